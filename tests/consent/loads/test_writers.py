"""consent/loads/writers.py: each written record gets a history row naming source, user and file;
records created between the plan and the write are never doubled."""

from datetime import UTC, datetime

from consent.loads.staging import Stage
from consent.loads.writers import _history_sql, _loaded_values
from consent.models import ContactPointConsent
from tests import factories
from tests.consent.loads.helpers import History, csv_text, load, record


def test_a_load_writes_each_row_with_a_history_row_naming_source_user_and_file(
    profile, newsletter, loader
):
    text = csv_text(
        "email,Ada@Example.ORG,Commercial,,opted_in,,signed up at fair,2024-05-01T09:30:00+02:00,",
        "email,ada@example.org,Commercial,Newsletter,opted_out,form,,2024-05-02T10:00:00Z,Ada",
        "sms,+31 6 12345678,Commercial,,opted_in,verbal,,,desk",
    )
    result = load(text, user=loader, name="fair-2024.csv")

    assert result.status == "done", result.message
    assert result.counts["rows"] == 3
    assert (result.counts["opt_ins"], result.counts["opt_outs"], result.counts["written"]) == (
        2,
        1,
        3,
    )
    purpose_record = record()
    assert (purpose_record.status, purpose_record.source, purpose_record.reason) == (
        "opted_in",
        "loaded",
        "signed up at fair",
    )
    assert purpose_record.captured_at == datetime(2024, 5, 1, 7, 30, tzinfo=UTC)
    assert purpose_record.captured_by is None and purpose_record.notice_version == ""
    topic_record = record(topic=newsletter)
    assert (topic_record.status, topic_record.source, topic_record.requested_by) == (
        "opted_out",
        "form",
        "Ada",
    )
    sms = ContactPointConsent.objects.get(channel="sms")
    assert sms.value == "+31612345678" and sms.source == "verbal"
    rows = History.objects.all()
    assert rows.count() == 3
    assert {h.history_user for h in rows} == {loader}
    assert {h.history_change_reason for h in rows} == {"fair-2024.csv"}
    assert sorted(h.history_source for h in rows) == ["form", "loaded", "verbal"]
    assert {h.status for h in rows} == {"opted_in", "opted_out"}


def test_an_update_leaves_the_previous_state_in_history(commercial, loader):
    factories.cp_consent(value="ada@example.org", purpose_obj=commercial, status="opted_in")
    result = load(
        csv_text("email,ada@example.org,Commercial,,opted_out,,moved away,,"), user=loader
    )

    assert (result.counts["opt_outs"], result.counts["written"]) == (1, 1)
    assert ContactPointConsent.objects.count() == 1
    latest, previous = History.objects.order_by("-history_id")[:2]
    assert (latest.history_type, latest.status, latest.history_source) == (
        "~",
        "opted_out",
        "loaded",
    )
    assert (previous.status, latest.history_user) == ("opted_in", loader)


def test_the_write_knows_every_column_of_the_record_and_its_history():
    assert "captured_at" in _loaded_values()
    assert "history_source" in _history_sql()


def test_records_created_between_the_plan_and_the_write_are_updated_or_kept_never_doubled(
    commercial, newsletter, loader, monkeypatch
):
    """The plan saw no record for these keys; others' writes created some before the load
    wrote (PostgreSQL: its plain INSERT of new keys fails and the upsert takes over)."""
    plan = Stage.plan

    def plan_then_others_write(stage):
        plan(stage)
        for value, topic, moment in (
            ("ada@example.org", None, datetime(2024, 1, 1, tzinfo=UTC)),  # older: overwritten
            ("bob@example.org", None, datetime(2025, 1, 1, tzinfo=UTC)),  # newer: kept
            ("ada@example.org", newsletter, datetime(2024, 1, 1, tzinfo=UTC)),
        ):
            factories.cp_consent(
                value=value,
                purpose_obj=commercial,
                topic=topic,
                status="opted_out",
                captured_at=moment,
            )

    monkeypatch.setattr(Stage, "plan", plan_then_others_write)
    result = load(
        csv_text(
            "email,ada@example.org,Commercial,,opted_in,,,2024-05-01T10:00:00Z,",
            "email,bob@example.org,Commercial,,opted_in,,,2024-05-01T10:00:00Z,",
            "email,cy@example.org,Commercial,,opted_in,,,2024-05-01T10:00:00Z,",
            "email,ada@example.org,Commercial,Newsletter,opted_in,,,2024-05-01T10:00:00Z,",
            "email,cy@example.org,Commercial,Newsletter,opted_in,,,2024-05-01T10:00:00Z,",
        ),
        user=loader,
    )

    assert (result.status, result.counts["opt_ins"], result.counts["written"]) == ("done", 5, 4)
    assert ContactPointConsent.objects.count() == 5
    assert record("ada@example.org").status == "opted_in"
    assert record("ada@example.org", topic=newsletter).status == "opted_in"
    assert record("bob@example.org").status == "opted_out"
    assert record("cy@example.org").status == "opted_in"
    assert record("cy@example.org", topic=newsletter).status == "opted_in"
    loaded = History.objects.filter(history_change_reason="consents.csv")
    assert sorted((h.value, h.topic_id or 0, h.history_type) for h in loaded) == [
        ("ada@example.org", 0, "~"),
        ("ada@example.org", newsletter.pk, "~"),
        ("cy@example.org", 0, "+"),
        ("cy@example.org", newsletter.pk, "+"),
    ]
    assert {h.history_user_id for h in loaded} == {loader.pk}
