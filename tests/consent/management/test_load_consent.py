"""The load_consent command (consent/management/commands/load_consent.py): loads a file or migrates,
prints the report, fails when the load is refused."""

import pytest
from django.core.management import CommandError, call_command

from consent.models import ContactPointConsent
from tests import factories
from tests.consent.loads.helpers import MIXED, History


def test_the_command_loads_a_file_and_prints_the_report(commercial, tmp_path, capsys):
    path = tmp_path / "consents.csv"
    path.write_text(MIXED)

    call_command("load_consent", str(path), "--mode", "skip")

    out = capsys.readouterr().out
    assert "done" in out
    assert "New opt-ins: 1" in out and "Invalid rows: 1" in out
    assert "line 3, value:" in out
    assert ContactPointConsent.objects.count() == 2
    assert History.objects.first().history_change_reason == "consents.csv"


def test_the_command_fails_when_the_load_is_refused(commercial, tmp_path, capsys):
    path = tmp_path / "consents.csv"
    path.write_text(MIXED)

    with pytest.raises(CommandError, match="nothing was written"):
        call_command("load_consent", str(path))
    assert "line 3, value:" in capsys.readouterr().out
    assert ContactPointConsent.objects.count() == 0


def test_the_command_refuses_a_binary_file(profile, tmp_path):
    path = tmp_path / "photo.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    with pytest.raises(CommandError, match="not UTF-8"):
        call_command("load_consent", str(path))


def test_the_command_previews_and_migrates(commercial, tmp_path, capsys):
    factories.contact(email="ada@example.org")
    path = tmp_path / "consents.csv"
    path.write_text(MIXED)

    call_command("load_consent", str(path), "--dry-run", "--mode", "skip")
    assert "previewed" in capsys.readouterr().out
    assert ContactPointConsent.objects.count() == 0

    call_command("load_consent", "--from-subjects", "--profile", "default")
    assert "Written: 3" in capsys.readouterr().out


def test_the_command_checks_its_arguments(profile, tmp_path):
    with pytest.raises(CommandError, match="FILE"):
        call_command("load_consent")
    with pytest.raises(CommandError, match="profile"):
        call_command("load_consent", "--from-subjects", "--profile", "nope")
    with pytest.raises(CommandError, match="No such file"):
        call_command("load_consent", str(tmp_path / "missing.csv"))
