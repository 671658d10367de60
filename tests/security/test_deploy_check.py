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
        SUPPRESSION_HASH_KEY="x",
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


@pytest.mark.parametrize("secret", ["SECRET_KEY", "SUPPRESSION_HASH_KEY"])
def test_production_refuses_to_start_without_its_secrets(tmp_path, secret):
    env = production_env(tmp_path)
    del env[secret]
    returncode, output = manage(env, "check")
    assert returncode != 0
    assert f"Set the {secret} environment variable" in output
