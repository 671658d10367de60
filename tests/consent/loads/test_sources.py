"""consent/loads/sources.py: the migration mode, from subject preferences and from the sources
named in settings.CONSENT_MIGRATION_SOURCES (subscription lists), gated and merged by the load."""

from datetime import UTC, datetime

import pytest

from common.audit import Evidence
from consent.loads.runner import (
    consent_load_create,
    consent_load_run,
)
from consent.loads.sources import LIST_REASON, MIGRATION_REASON, migration_sources
from consent.models import ComplianceProfile, ConsentLoad, ContactPointConsent
from consent.services.contact_points import contact_point_consent_set, suppression_add
from consent.services.erasure import subject_anonymize
from marketing_lists.consent_migration import subscription_members_sql
from marketing_lists.models import MarketingList
from marketing_lists.services import marketing_list_members_change, marketing_list_save
from subjects.models import Account, Contact
from subjects.services import account_save, contact_deactivate
from tests import factories
from tests.consent.loads.helpers import History


def migrate(**options) -> ConsentLoad:
    created = consent_load_create(from_subjects=True, dispatch=False, **options)
    return consent_load_run(load=created)


def purposes_of(value: str) -> dict[tuple[str, str | None], str]:
    return {
        (r.purpose.name, r.topic.name if r.topic else None): r.status
        for r in ContactPointConsent.objects.filter(channel="email", value=value)
    }


def test_migration_opts_in_commercial_email_only_when_every_subject_allows_it(profile):
    factories.contact(email="both@example.org")
    factories.lead(email="Both@Example.org")
    factories.contact(email="shared@example.org")
    factories.lead(email="shared@example.org", allow_bulk_email=False)
    factories.contact(email="noemail@example.org", allow_email=False)

    result = migrate(user=None)

    assert result.status == "done", result.message
    assert purposes_of("both@example.org") == {
        ("Commercial", None): "opted_in",
        ("Transactional", None): "opted_in",
        ("Tracking", None): "opted_in",
    }
    assert purposes_of("shared@example.org") == {
        ("Commercial", None): "opted_out",
        ("Transactional", None): "opted_in",
        ("Tracking", None): "opted_in",
    }
    assert purposes_of("noemail@example.org") == {
        ("Commercial", None): "opted_out",
        ("Transactional", None): "opted_out",
        ("Tracking", None): "opted_in",
    }
    latest = History.objects.filter(value="both@example.org").first()
    assert (latest.history_source, latest.history_change_reason) == (
        "loaded",
        MIGRATION_REASON,
    )


def test_migration_tracking_reads_contacts_only_and_ignores_anonymized_subjects(profile):
    factories.lead(email="lead@example.org", allow_tracking=False)
    factories.contact(email="contact@example.org", allow_tracking=False)
    gone = factories.contact(email="gone@example.org")
    subject_anonymize(subject=gone)

    migrate()

    assert ("Tracking", None) not in purposes_of("lead@example.org")
    assert purposes_of("contact@example.org")[("Tracking", None)] == "opted_out"
    assert not ContactPointConsent.objects.filter(value="gone@example.org").exists()


def subscription_list(member_type, purpose, topic, members):
    mlist = marketing_list_save(
        marketing_list=MarketingList(
            name=f"{member_type} list", member_type=member_type, purpose=purpose, topic=topic
        )
    )
    marketing_list_members_change(marketing_list=mlist, add=[m.pk for m in members])
    return mlist


def test_migration_opts_list_members_in_to_the_list_topic(commercial, newsletter):
    acme = account_save(account=Account(name="Acme"))
    member = factories.contact(email="member@example.org")
    employee = factories.contact(email="employee@example.org", account=acme)
    factories.contact(email="left@example.org", account=acme)
    contact_deactivate(contact=Contact.objects.get(email="left@example.org"))
    refuser = factories.contact(email="refuser@example.org", allow_bulk_email=False)
    lead = factories.lead(email="lead@example.org")
    subscription_list("contact", commercial, newsletter, [member, refuser])
    subscription_list("account", commercial, newsletter, [acme])
    subscription_list("lead", commercial, newsletter, [lead])

    result = migrate()

    assert result.status == "done"
    for value in ("member@example.org", "employee@example.org", "lead@example.org"):
        assert purposes_of(value)[("Commercial", "Newsletter")] == "opted_in", value
    assert ("Commercial", "Newsletter") not in purposes_of("left@example.org")
    assert ("Commercial", "Newsletter") not in purposes_of("refuser@example.org")
    assert purposes_of("refuser@example.org")[("Commercial", None)] == "opted_out"
    assert employee.account == acme


def test_a_migration_preview_writes_nothing_and_a_rerun_changes_nothing(profile):
    factories.contact(email="ada@example.org")
    preview = migrate(dry_run=True)

    assert preview.status == "previewed"
    assert preview.counts["opt_ins"] == 3 and ContactPointConsent.objects.count() == 0
    migrate()
    again = migrate()
    assert (again.counts["unchanged"], again.counts["written"]) == (3, 0)


def test_migration_never_overwrites_a_newer_choice_of_the_customer(commercial):
    contact = factories.contact(email="ada@example.org")
    contact_point_consent_set(
        channel="email",
        value=contact.email,
        purpose=commercial,
        status="opted_out",
        evidence=Evidence(source="form"),
    )
    result = migrate()

    assert result.counts["stale"] == 1
    assert purposes_of("ada@example.org")[("Commercial", None)] == "opted_out"


def test_migration_never_opts_in_a_suppressed_address(commercial):
    factories.contact(email="gone@example.org")
    suppression_add(channel="email", value="gone@example.org")

    result = migrate()

    assert result.counts["suppressed"] == 3
    assert not ContactPointConsent.objects.filter(value="gone@example.org").exists()
    assert {e["line"] for e in result.row_errors} == {None}


def test_a_subject_email_that_no_longer_validates_is_an_invalid_row(profile):
    contact = factories.contact(email="ada@example.org")
    Contact.objects.filter(pk=contact.pk).update(email="broken@@example.org")
    factories.contact(email="bob@example.org")

    rejected = migrate()
    skipped = migrate(mode="skip")

    assert rejected.status == "failed" and rejected.counts["invalid"] == 1
    assert rejected.row_errors[0]["message"].startswith(f"Contact {contact.pk}:")
    assert skipped.status == "done" and skipped.counts["written"] == 3


EARLY, LATE = datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 6, 1, tzinfo=UTC)


@pytest.fixture
def sources(settings):
    """No sources but the test's (the real setting names marketing_lists' source)."""
    settings.CONSENT_MIGRATION_SOURCES = []
    return settings


def newsletter_since_created_sql() -> str:
    """A source named in settings: every contact subscribed to Newsletter since it was created."""
    return subscribed_since("created_at", _newsletter())()


def newsletter_since_updated_sql() -> str:
    return subscribed_since("updated_at", _newsletter())()


def _newsletter():
    return (
        ComplianceProfile.objects.default()
        .purposes.get(name="Commercial")
        .topics.get(name="Newsletter")
    )


def subscribed_since(column: str, topic):
    """A source: every contact subscribed to `topic` since its `column` (created / updated)."""

    def source() -> str:
        return (
            f"SELECT LOWER(email) AS email_key, {topic.purpose_id} AS purpose_id, "
            f"{topic.pk} AS topic_id, {column} AS joined_at FROM {Contact._meta.db_table}"
        )

    return source


def topic_record(value: str, topic) -> ContactPointConsent | None:
    return ContactPointConsent.objects.filter(value=value, topic=topic).first()


def test_settings_name_the_subscription_lists_as_a_source_of_the_load():
    assert migration_sources() == [subscription_members_sql]


def test_a_source_named_twice_is_read_once(sources):
    path = "marketing_lists.consent_migration.subscription_members_sql"
    sources.CONSENT_MIGRATION_SOURCES = [path, path]

    assert migration_sources() == [subscription_members_sql]


def test_registered_sources_merge_per_address_and_topic_behind_the_preference_gate(
    sources, newsletter
):
    reader = factories.contact(email="reader@example.org")
    factories.contact(email="refuser@example.org", allow_bulk_email=False)
    Contact.objects.update(created_at=EARLY, updated_at=LATE)
    sources.CONSENT_MIGRATION_SOURCES = [
        f"{__name__}.newsletter_since_created_sql",
        f"{__name__}.newsletter_since_updated_sql",
    ]

    load = consent_load_run(load=consent_load_create(from_subjects=True, dispatch=False))

    assert load.status == "done", load.message
    record = topic_record(reader.email, newsletter)
    assert (record.status, record.captured_at, record.reason) == (
        "opted_in",
        LATE,
        LIST_REASON,
    )
    assert topic_record("refuser@example.org", newsletter) is None
    assert load.counts["duplicates"] == 0


def test_without_registered_sources_the_migration_reads_preferences_only(sources, newsletter):
    factories.contact(email="reader@example.org")

    load = consent_load_run(load=consent_load_create(from_subjects=True, dispatch=False))

    assert load.status == "done", load.message
    assert not ContactPointConsent.objects.filter(topic__isnull=False).exists()
    assert ContactPointConsent.objects.filter(value="reader@example.org").count() == 3
