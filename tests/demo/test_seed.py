from django.core.management import call_command
from django.utils import translation

from common.admin import dpo_views
from common.audit import Evidence
from consent.decision.single import decide
from consent.models import ComplianceProfile, DataConsent, Purpose, Topic
from consent.services.customer import Choice, customer_choices_record
from consent.services.summaries import subjects_refresh
from demo.seed import EVERYONE_LIST
from marketing_lists.models import MarketingList, MarketingListMember
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


def test_the_demo_profile_tells_a_coherent_story(db):
    """DESIGN §6: a privacy notice, a sender, double opt-in for new addresses and a data policy
    for customer opt-ins, so a customer's own opt-in is what the consent check then allows."""
    call_command("seed_demo", contacts=50, seed=5)
    profile = ComplianceProfile.objects.default()
    commercial = profile.purposes.get(kind=Purpose.Kind.COMMERCIAL)
    customer = factories.contact(email="traveller@example.org")
    newsletter = commercial.topics.get(name="Newsletter")

    customer_choices_record(
        profile=profile,
        channel="email",
        value=customer.email,
        choices=[Choice(commercial, None, "opted_in"), Choice(commercial, newsletter, "opted_in")],
        evidence=Evidence(source="preference_center", reason="test"),
    )
    decision = decide(
        channel="email", value=customer.email, purpose=commercial.pk, topic=newsletter.pk
    )

    assert profile.notice_url and profile.notice_version and profile.sender_name
    assert profile.double_opt_in == "new_only"
    assert profile.data_policy.consent_level >= commercial.required_level
    assert (decision.allowed, decision.reason) == (True, "opted_in")


def test_seed_demo_names_the_organisation_and_translates_purposes_and_topics(db):
    call_command("seed_demo", contacts=20, seed=5)
    profile = ComplianceProfile.objects.default()
    assert (profile.organization_name, profile.notice_url) == (
        "Example Travel B.V.",
        "https://example.org/privacy",
    )
    topics = Topic.objects.filter(purpose__profile=profile).order_by("name_en")
    with translation.override("nl"):
        assert [t.name for t in topics] == ["Evenementen", "Nieuwsbrief", "Trainingen en cursussen"]
        assert profile.intro_text.startswith("We sturen je alleen")
    with translation.override("de"):
        assert [t.name for t in topics] == ["Veranstaltungen", "Newsletter", "Schulungen und Kurse"]
        assert all(t.description for t in topics)
    # Every text was saved through the service: the topics' history says so.
    assert Topic.history.filter(history_change_reason="edited").count() == 3
