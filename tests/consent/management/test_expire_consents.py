from datetime import timedelta

import time_machine
from django.core.management import call_command
from django.utils import timezone

from tests import factories


def test_expire_consents_command_runs_the_sweep(db, capsys):
    consent = factories.consent(
        subject=factories.contact(), policy_obj=factories.policy(validity_days=1)
    )
    with time_machine.travel(timezone.now() + timedelta(days=2)):
        call_command("expire_consents")
    assert "Expired 1 data consent(s)." in capsys.readouterr().out
    consent.refresh_from_db()
    assert consent.status_reason == "expired"
