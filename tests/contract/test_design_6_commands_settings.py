"""DESIGN §6: the management commands with their options, the environment names, and §5's
groups as a fresh database has them."""

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.core.management import CommandError, call_command, load_command_class
from django.utils import timezone

from consent.models import DataConsent
from tests import factories

ROOT = Path(__file__).resolve().parents[2]
ENV_NAMES = [
    "SECRET_KEY",
    "DEBUG",
    "ALLOWED_HOSTS",
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "EMAIL_URL",
    "SITE_URL",
    "SUPPRESSION_HASH_KEY",
    "PHONE_DEFAULT_REGION",
    "PREFERENCE_LINK_MAX_AGE_DAYS",
]


def parse(app: str, command: str, *args):
    parser = load_command_class(app, command).create_parser("manage.py", command)
    return vars(parser.parse_args(list(args)))


def test_load_consent_takes_the_design_options():
    options = parse(
        "consent",
        "load_consent",
        "export.csv",
        "--profile",
        "newsletter",
        "--mode",
        "skip",
        "--dry-run",
        "--from-subjects",
    )
    assert (options["profile"], options["mode"], options["dry_run"], options["from_subjects"]) == (
        "newsletter",
        "skip",
        True,
        True,
    )
    defaults = parse("consent", "load_consent", "export.csv")
    assert (defaults["mode"], defaults["dry_run"], defaults["from_subjects"]) == (
        "reject",
        False,
        False,
    )
    with pytest.raises(CommandError):
        parse("consent", "load_consent", "export.csv", "--mode", "maybe")


def test_seed_demo_takes_a_contact_count(db):
    assert parse("demo", "seed_demo", "--contacts", "25")["contacts"] == 25
    call_command("seed_demo", "--contacts", "25")
    from subjects.models import Contact

    assert Contact.objects.count() >= 25


def test_expire_consents_is_idempotent(db, capsys):
    consent = factories.consent(
        subject=factories.contact(), policy_obj=factories.policy(validity_days=1)
    )
    with time_machine.travel(timezone.now() + timedelta(days=2)):
        call_command("expire_consents")
        history_rows = DataConsent.history.filter(id=consent.pk).count()
        call_command("expire_consents")
    consent.refresh_from_db()
    assert (consent.state, consent.status_reason) == ("inactive", "expired")
    assert DataConsent.history.filter(id=consent.pk).count() == history_rows


def test_env_example_documents_every_design_setting():
    documented = {
        line.split("=", 1)[0].strip()
        for line in (ROOT / ".env.example").read_text().splitlines()
        if "=" in line and not line.lstrip().startswith("#")
    }
    assert set(ENV_NAMES) <= documented


def settings_in_subprocess(env: dict, expressions: str) -> list:
    script = (
        "import json, django; django.setup(); from django.conf import settings as s;"
        f"print(json.dumps([{expressions}]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def clean_environment() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ENV_NAMES and k != "CACHE_URL"}
    env["DJANGO_SETTINGS_MODULE"] = "config.settings"
    return env


def test_out_of_the_box_sqlite_eager_tasks_and_180_day_links():
    env = {**clean_environment(), "DEBUG": "true"}
    values = settings_in_subprocess(
        env,
        "s.DATABASES['default']['ENGINE'], s.CELERY_TASK_ALWAYS_EAGER,"
        " s.PREFERENCE_LINK_MAX_AGE_DAYS",
    )
    assert values == ["django.db.backends.sqlite3", True, 180]


def test_settings_are_read_from_the_design_environment_names(tmp_path):
    env = clean_environment()
    env.update(
        SECRET_KEY="s3cret-contract-key-" + "x" * 40,
        DEBUG="false",
        ALLOWED_HOSTS="crm.example.org,api.example.org",
        DATABASE_URL=f"sqlite:///{tmp_path / 'contract.sqlite3'}",
        CELERY_BROKER_URL="redis://127.0.0.1:6399/5",
        EMAIL_URL="smtp://mail.example.org:2525",
        SITE_URL="https://crm.example.org",
        SUPPRESSION_HASH_KEY="hash-contract-key",
        PHONE_DEFAULT_REGION="BE",
        PREFERENCE_LINK_MAX_AGE_DAYS="7",
    )
    values = settings_in_subprocess(
        env,
        "s.SECRET_KEY, s.DEBUG, s.ALLOWED_HOSTS, s.DATABASES['default']['NAME'],"
        " s.CELERY_BROKER_URL, s.EMAIL_HOST, s.EMAIL_PORT, s.SITE_URL, s.SUPPRESSION_HASH_KEY,"
        " s.PHONE_DEFAULT_REGION, s.PREFERENCE_LINK_MAX_AGE_DAYS, s.CELERY_TASK_ALWAYS_EAGER",
    )
    assert values == [
        env["SECRET_KEY"],
        False,
        ["crm.example.org", "api.example.org"],
        str(tmp_path / "contract.sqlite3"),
        "redis://127.0.0.1:6399/5",
        "mail.example.org",
        2525,
        "https://crm.example.org",
        "hash-contract-key",
        "BE",
        7,
        False,
    ]


def test_the_daily_sweep_is_a_registered_celery_beat_task(db):
    from config.celery import app

    app.loader.import_default_modules()
    scheduled = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert "consent.tasks.expire_data_consents" in scheduled
    assert scheduled <= set(app.tasks)
