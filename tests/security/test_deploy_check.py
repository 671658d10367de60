"""`manage.py check --deploy` is clean with production settings (DEBUG off, real secrets)."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parents[2]


def production_env(tmp_path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "SECURE_", "AXES_")) and key != "DATABASE_URL"
    }
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(60),
        SUPPRESSION_HASH_KEY=secrets.token_urlsafe(40),
        PREFERENCE_LINK_KEYS=f"{secrets.token_urlsafe(40)},{secrets.token_urlsafe(40)}",
        EMAIL_URL="smtp+tls://crm:secret@mail.example.org:587",
        ALLOWED_HOSTS="crm.example.org",
        DATABASE_URL=f"sqlite:///{tmp_path / 'x.sqlite3'}",
    )
    return env


def manage(env: dict[str, str], *args: str) -> tuple[int, str]:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return result.returncode, result.stdout + result.stderr


def test_the_deploy_check_finds_nothing_with_production_settings(tmp_path):
    returncode, output = manage(
        production_env(tmp_path), "check", "--deploy", "--fail-level", "DEBUG"
    )
    assert returncode == 0, output
    assert "System check identified no issues (0 silenced)." in output, output
    assert "WARNINGS" not in output and "ERRORS" not in output, output


@pytest.mark.parametrize("secret", ["SECRET_KEY", "SUPPRESSION_HASH_KEY", "EMAIL_URL"])
def test_production_refuses_to_start_without_its_secrets(tmp_path, secret):
    env = production_env(tmp_path)
    del env[secret]
    returncode, output = manage(env, "check")
    assert returncode != 0
    assert f"Set the {secret} environment variable" in output


def deploy_check(env: dict[str, str]) -> tuple[int, str]:
    return manage(env, "check", "--deploy", "--fail-level", "WARNING")


@pytest.mark.parametrize(
    "weak_key",
    ["x", "short-but-not-32-characters", "a" * 64, "SAME_AS_SECRET_KEY"],
)
def test_a_weak_suppression_hash_key_fails_the_deploy_check(tmp_path, weak_key):
    env = production_env(tmp_path)
    env["SUPPRESSION_HASH_KEY"] = (
        env["SECRET_KEY"] if weak_key == "SAME_AS_SECRET_KEY" else weak_key
    )
    returncode, output = deploy_check(env)
    assert returncode != 0
    assert "consent_crm.E001" in output and "SUPPRESSION_HASH_KEY is weak" in output


def test_missing_preference_link_keys_fail_the_deploy_check(tmp_path):
    env = production_env(tmp_path)
    del env["PREFERENCE_LINK_KEYS"]
    returncode, output = deploy_check(env)
    assert returncode != 0 and "consent_crm.E002" in output


@pytest.mark.parametrize("keys", ["short", "SAME_AS_SECRET_KEY", "GOOD,tiny"])
def test_weak_preference_link_keys_fail_the_deploy_check(tmp_path, keys):
    env = production_env(tmp_path)
    good = secrets.token_urlsafe(40)
    env["PREFERENCE_LINK_KEYS"] = keys.replace("SAME_AS_SECRET_KEY", env["SECRET_KEY"]).replace(
        "GOOD", good
    )
    returncode, output = deploy_check(env)
    assert returncode != 0 and "consent_crm.E003" in output


@pytest.mark.parametrize("url", ["consolemail://", "dummymail://"])
def test_an_email_backend_that_sends_nothing_fails_the_deploy_check(tmp_path, url):
    env = production_env(tmp_path)
    env["EMAIL_URL"] = url
    returncode, output = deploy_check(env)
    assert returncode != 0 and "consent_crm.E005" in output
