"""The migration mode's registered row sources (consent.loads.register_migration_source): the
subscriptions of apps above consent, gated and merged by the load."""

from datetime import UTC, datetime

import pytest

from consent import loads
from consent.loads import consent_load_create, consent_load_run, register_migration_source
from consent.models import ComplianceProfile, ContactPointConsent
from marketing_lists.consent_migration import subscription_members_sql
from subjects.models import Contact
from tests import factories

EARLY, LATE = datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 6, 1, tzinfo=UTC)


@pytest.fixture
def sources(monkeypatch):
    """An empty registry for the test (the real one holds marketing_lists' source)."""
    registry: list = []
    monkeypatch.setattr(loads, "_MIGRATION_SOURCES", registry)
    return registry


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


def test_marketing_lists_registers_its_subscription_lists_with_the_load():
    assert subscription_members_sql in loads._MIGRATION_SOURCES


def test_a_source_registered_twice_is_read_once(sources):
    def source() -> str:
        return "SELECT NULL AS email_key, 0 AS purpose_id, 0 AS topic_id, NULL AS joined_at"

    assert register_migration_source(source) is source
    register_migration_source(source)

    assert sources == [source]


def test_registered_sources_merge_per_address_and_topic_behind_the_preference_gate(
    sources, newsletter
):
    reader = factories.contact(email="reader@example.org")
    factories.contact(email="refuser@example.org", allow_bulk_email=False)
    Contact.objects.update(created_at=EARLY, updated_at=LATE)
    register_migration_source(subscribed_since("created_at", newsletter))
    register_migration_source(subscribed_since("updated_at", newsletter))

    load = consent_load_run(load=consent_load_create(from_subjects=True, dispatch=False))

    assert load.status == "done", load.message
    record = topic_record(reader.email, newsletter)
    assert (record.status, record.captured_at, record.reason) == (
        "opted_in",
        LATE,
        loads.LIST_REASON,
    )
    assert topic_record("refuser@example.org", newsletter) is None
    assert load.counts["duplicates"] == 0


def test_without_registered_sources_the_migration_reads_preferences_only(sources, newsletter):
    factories.contact(email="reader@example.org")

    load = consent_load_run(load=consent_load_create(from_subjects=True, dispatch=False))

    assert load.status == "done", load.message
    assert not ContactPointConsent.objects.filter(topic__isnull=False).exists()
    assert ContactPointConsent.objects.filter(value="reader@example.org").count() == 3
