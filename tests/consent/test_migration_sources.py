"""The migration mode's row sources (settings.CONSENT_MIGRATION_SOURCES): the subscriptions of
apps above consent, gated and merged by the load."""

from datetime import UTC, datetime

import pytest

from consent.loads.runner import consent_load_create, consent_load_run
from consent.loads.sources import LIST_REASON, migration_sources
from consent.models import ComplianceProfile, ContactPointConsent
from marketing_lists.consent_migration import subscription_members_sql
from subjects.models import Contact
from tests import factories

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


@pytest.fixture
def newsletter(db):
    commercial = ComplianceProfile.objects.default().purposes.get(name="Commercial")
    return factories.topic(purpose_obj=commercial, name="Newsletter")


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
