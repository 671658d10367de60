"""consent/loads/staging.py: the plan classifies every row: stale, unchanged, in-file duplicates,
suppressed."""

from datetime import UTC, datetime, timedelta

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from consent.models import ContactPointConsent
from consent.services.contact_points import suppression_add
from tests import factories
from tests.consent.loads.helpers import History, csv_text, errors, load, record


def test_a_row_older_than_the_stored_record_is_stale_and_does_not_overwrite_it(commercial):
    factories.cp_consent(
        value="ada@example.org",
        purpose_obj=commercial,
        status="opted_out",
        captured_at=datetime(2024, 6, 1, tzinfo=UTC),
    )
    history = History.objects.count()
    result = load(csv_text("email,ada@example.org,Commercial,,opted_in,,,2024-05-31T23:59:59Z,"))

    assert (result.counts["stale"], result.counts["written"]) == (1, 0)
    assert record().status == "opted_out"
    assert History.objects.count() == history


def test_loading_the_same_file_twice_leaves_everything_unchanged(commercial, newsletter):
    text = csv_text(
        "email,ada@example.org,Commercial,,opted_in,,r,2024-05-01T10:00:00.123456+00:00,x",
        "email,ada@example.org,Commercial,Newsletter,opted_in,,,2024-05-01T10:00:00Z,",
        "email,bob@example.org,Commercial,,opted_out,,,,",
    )
    load(text)
    history = History.objects.count()
    second = load(text)

    assert (second.counts["unchanged"], second.counts["written"]) == (3, 0)
    assert History.objects.count() == history


def test_same_status_with_new_evidence_is_another_change(commercial):
    load(csv_text("email,ada@example.org,Commercial,,opted_in,,first,2024-05-01T10:00:00Z,"))
    result = load(
        csv_text("email,ada@example.org,Commercial,,opted_in,,again,2024-06-01T10:00:00Z,")
    )

    assert (result.counts["other_changes"], result.counts["opt_ins"]) == (1, 0)
    assert record().reason == "again"


def test_an_expired_opt_in_loaded_again_is_a_new_opt_in(commercial):
    factories.cp_consent(
        value="ada@example.org",
        purpose_obj=commercial,
        status="opted_in",
        captured_at=timezone.now() - timedelta(days=10),
        expires_at=timezone.now() - timedelta(days=1),
    )
    result = load(csv_text("email,ada@example.org,Commercial,,opted_in,,,,"))

    assert result.counts["opt_ins"] == 1
    assert record().expires_at is None


def test_in_file_duplicates_the_latest_captured_at_wins_and_the_others_are_reported(
    commercial,
):
    text = csv_text(
        "email,Ada@example.org,Commercial,,opted_in,,first,2024-05-01T10:00:00Z,",  # 2
        "email,ada@EXAMPLE.org,Commercial,,opted_out,,latest,2024-05-03T10:00:00Z,",  # 3
        "email,ada@example.org,Commercial,,opted_in,,middle,2024-05-02T10:00:00Z,",  # 4
        "email,bob@example.org,Commercial,,opted_in,,tie 1,2024-05-01T10:00:00Z,",  # 5
        "email,bob@example.org,Commercial,,opted_out,,tie 2,2024-05-01T10:00:00Z,",  # 6
    )
    result = load(text)

    assert result.status == "done"
    assert (record().status, record().reason) == ("opted_out", "latest")
    assert record("bob@example.org").reason == "tie 2"  # a tie: the later line wins
    assert errors(result) == [
        (2, "captured_at", "duplicate"),
        (4, "captured_at", "duplicate"),
        (5, "captured_at", "duplicate"),
    ]
    assert "Duplicate of line 3" in result.row_errors[0]["message"]
    assert (result.counts["duplicates"], result.counts["written"]) == (3, 2)
    assert History.objects.count() == 2


def test_a_suppressed_address_gets_nothing_written_whatever_its_status(commercial):
    # An erased address's opt-out (a nightly CRM sync) would write it back in clear.
    suppression_add(channel="email", value="gone@example.org")
    text = csv_text(
        "email,GONE@example.org,Commercial,,opted_in,,,,",
        "email,gone@example.org,Commercial,,opted_out,,,2020-01-01T00:00:00Z,",
        "email,gone@example.org,Commercial,Newsletter,not_set,,,,",
    )
    factories.topic(purpose_obj=commercial, name="Newsletter")
    result = load(text)

    assert result.status == "done"
    assert (result.counts["suppressed"], result.counts["written"]) == (3, 0)
    assert not ContactPointConsent.objects.filter(value="gone@example.org").exists()
    assert not ContactPointConsent.history.filter(value="gone@example.org").exists()
    assert {(line, kind) for line, _, kind in errors(result)} == {
        (2, "suppressed"),
        (3, "suppressed"),
        (4, "suppressed"),
    }


def test_a_suppressed_opt_in_is_skipped_and_reported_even_in_reject_mode(commercial):
    suppression_add(channel="email", value="gone@example.org")
    text = csv_text(
        "email,GONE@example.org,Commercial,,opted_in,,,,",
        "email,ada@example.org,Commercial,,opted_in,,,,",
    )
    result = load(text)

    assert result.status == "done"
    assert (result.counts["suppressed"], result.counts["written"]) == (1, 1)
    assert errors(result) == [(2, "value", "suppressed")]
    assert not ContactPointConsent.objects.filter(value="gone@example.org").exists()


def test_texts_with_the_copy_formats_special_characters_are_stored_exactly(commercial):
    """The stage is filled by COPY (PostgreSQL, text format): a backslash, a tab, a line break,
    a quote, a comma and "\\N" in a text must arrive as written, and loading the file again
    finds every row unchanged."""
    reason = 'Call \\N of 3\\4, said "yes",\tthen\nconfirmed by mail'
    quoted = '"' + reason.replace('"', '""') + '"'
    text = csv_text(
        f"email,ada@example.org,Commercial,,opted_in,,{quoted},,\\\\desk\t7",
        "email,bob@example.org,Commercial,,opted_out,,,,",
    )

    first = load(text)
    again = load(text)

    assert first.counts["written"] == 2, first.row_errors
    stored = record()
    assert (stored.reason, stored.requested_by) == (reason, "\\\\desk\t7")
    assert record("bob@example.org").reason == ""
    assert (again.counts["unchanged"], again.counts["written"]) == (2, 0)


def test_a_file_without_duplicates_is_planned_without_asking_the_database_for_them(commercial):
    """The rows' keys are hashed as they are staged: with no two alike, the plan skips the
    GROUP BY over every staged row; with a duplicate it asks, and ranks."""
    distinct = csv_text(*(f"email,p{n}@example.org,Commercial,,opted_in,,,," for n in range(5)))
    with CaptureQueriesContext(connection) as plain:
        assert load(distinct).counts["written"] == 5
    repeated = csv_text(
        "email,ada@example.org,Commercial,,opted_in,,,2024-05-01T10:00:00Z,",
        "email,ada@example.org,Commercial,,opted_out,,,2024-06-01T10:00:00Z,",
    )
    with CaptureQueriesContext(connection) as ranked:
        result = load(repeated)

    def grouped(queries):
        return [q["sql"] for q in queries.captured_queries if "HAVING COUNT(*) > 1" in q["sql"]]

    assert grouped(plain) == []
    assert len(grouped(ranked)) == 1
    assert (result.counts["written"], record().status) == (1, "opted_out")
