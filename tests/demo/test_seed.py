from django.core.management import call_command

from common.admin import dpo_views
from consent.models import DataConsent
from consent.services.summaries import subjects_refresh
from demo.seed import EVERYONE_LIST
from marketing_lists.models import MarketingList, MarketingListMember
from subjects.models import Contact, Lead


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


def test_seed_demo_builds_the_demo_lists_with_history(db):
    call_command("seed_demo", contacts=200, seed=3)
    everyone = MarketingList.objects.get(name=EVERYONE_LIST)
    assert (everyone.list_type, everyone.member_type, everyone.topic.name) == (
        "dynamic",
        "contact",
        "Newsletter",
    )
    static = MarketingList.objects.filter(list_type="static")
    assert {ml.member_type for ml in static} == {"account", "contact", "lead"}
    members = MarketingListMember.objects.filter(list__in=static)
    assert members.filter(contact__isnull=False).count() == 10  # every 20th of 200 contacts
    assert MarketingListMember.history.count() == MarketingListMember.objects.count()
    assert MarketingList.history.count() == MarketingList.objects.count()
