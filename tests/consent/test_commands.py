from datetime import timedelta

import time_machine
from django.core.management import call_command
from django.utils import timezone

from common.admin import dpo_views
from consent.models import DataConsent
from consent.services import subjects_refresh
from subjects.models import Contact, Lead
from tests import factories


def test_seed_demo_fills_every_dpo_view_with_consistent_derived_fields(db):
    call_command("seed_demo", contacts=600, seed=7)
    for model in (Lead, Contact, DataConsent):
        for code in dpo_views(model):
            if (model, code) == (DataConsent, "expiring_this_year"):
                continue  # empty in early January by design
            assert model.objects.for_view(code).exists(), (model.__name__, code)
    # The bulk seed computed the derived fields by the same rule as the services.
    assert subjects_refresh(model=Contact, ids=Contact.objects.values_list("pk", flat=True)) == 0
    assert subjects_refresh(model=Lead, ids=Lead.objects.values_list("pk", flat=True)) == 0
    assert Contact.history.count() == Contact.objects.count()
    assert DataConsent.history.count() == DataConsent.objects.count()
    assert (
        DataConsent.objects.filter(
            confidential=True, owner_team__isnull=True, owner_user__isnull=True
        ).count()
        == 0
    )


def test_seed_demo_if_empty_does_nothing_the_second_time(db):
    call_command("seed_demo", contacts=50)
    count = Contact.objects.count()
    call_command("seed_demo", contacts=50, if_empty=True)
    assert Contact.objects.count() == count


def test_expire_consents_command_runs_the_sweep(db, capsys):
    consent = factories.consent(
        subject=factories.contact(), policy_obj=factories.policy(validity_days=1)
    )
    with time_machine.travel(timezone.now() + timedelta(days=2)):
        call_command("expire_consents")
    assert "Expired 1 data consent(s)." in capsys.readouterr().out
    consent.refresh_from_db()
    assert consent.status_reason == "expired"
