"""Consent load (DESIGN §3.8): CSV rules, modes, preview, stale / duplicate / suppressed rows,
history, the migration mode and the command. Runs on SQLite and on PostgreSQL alike."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from common.audit import Evidence
from consent.addresses import normalize_address
from consent.loads import report
from consent.loads import rows as load_rows
from consent.loads.rows import _fast_email
from consent.loads.runner import (
    consent_load_confirm,
    consent_load_create,
    consent_load_files_purge,
    consent_load_run,
)
from consent.loads.sources import MIGRATION_REASON
from consent.loads.staging import Stage
from consent.loads.writers import _history_sql, _loaded_values
from consent.models import ComplianceProfile, ConsentLoad, ConsentLoadChunk, ContactPointConsent
from consent.models.load import CHUNK_SIZE
from consent.services.contact_points import contact_point_consent_set, suppression_add
from consent.services.erasure import subject_anonymize
from marketing_lists.models import MarketingList
from marketing_lists.services import marketing_list_members_change, marketing_list_save
from subjects.models import Account, Contact
from subjects.services import account_save, contact_deactivate
from tests import factories

HEADER = "channel,value,purpose,topic,status,source,reason,captured_at,requested_by\n"
History = ContactPointConsent.history.model


@pytest.fixture
def profile(db):
    return ComplianceProfile.objects.default()


@pytest.fixture
def commercial(profile):
    return profile.purposes.get(name="Commercial")


@pytest.fixture
def newsletter(commercial):
    return factories.topic(purpose_obj=commercial, name="Newsletter")


@pytest.fixture
def loader(make_user):
    return make_user("loader", perms=["consent.add_consentload", "consent.view_consentload"])


def csv_text(*rows: str, header: str = HEADER) -> str:
    return header + "".join(f"{row}\n" for row in rows)


def load(text, *, user=None, name="consents.csv", **options) -> ConsentLoad:
    data = text.encode() if isinstance(text, str) else text
    created = consent_load_create(file=data, file_name=name, user=user, dispatch=False, **options)
    return consent_load_run(load=created)


def record(value="ada@example.org", purpose_name="Commercial", topic=None):
    return ContactPointConsent.objects.get(
        channel="email", value=value, purpose__name=purpose_name, topic=topic
    )


def errors(result: ConsentLoad) -> list[tuple]:
    return [(e["line"], e["column"], e["kind"]) for e in result.row_errors]


# ---------------------------------------------------------------------------------------------
# Writing: records, history, evidence


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


def test_bom_and_crlf_line_endings_are_read_like_plain_utf8(commercial):
    text = csv_text("email,zoë@example.org,Commercial,,opted_in,,,,").replace("\n", "\r\n")
    result = load(b"\xef\xbb\xbf" + text.encode())

    assert result.status == "done", result.message
    assert record("zoë@example.org").status == "opted_in"


def test_columns_may_come_in_any_order_and_optional_ones_may_be_left_out(commercial):
    result = load("status,value,channel,purpose\nopted_out,ada@example.org,email,commercial\n")

    assert result.status == "done", result.message
    assert (record().status, record().source) == ("opted_out", "loaded")


def test_naive_times_are_utc_and_an_empty_time_is_the_load_time(commercial):
    text = csv_text(
        "email,ada@example.org,Commercial,,opted_in,,,2024-05-01 09:30:00,",
        "email,bob@example.org,Commercial,,opted_in,,,,",
    )
    before = timezone.now()
    load(text)

    assert record().captured_at == datetime(2024, 5, 1, 9, 30, tzinfo=UTC)
    assert record("bob@example.org").captured_at >= before


def test_the_task_runs_once_the_upload_is_committed(commercial, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        created = consent_load_create(
            file=csv_text("email,ada@example.org,Commercial,,opted_in,,,,").encode(),
            file_name="a.csv",
        )
        assert ConsentLoad.objects.get(pk=created.pk).status == "pending"

    created.refresh_from_db()
    assert (created.status, created.rows_processed, created.rows_total) == ("done", 1, 1)
    assert not ConsentLoadChunk.objects.filter(load=created).exists()  # no copy of the file


# ---------------------------------------------------------------------------------------------
# Files that are refused as a whole: one clear message


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "The file is empty."),
        ("channel,value,purpose,topic,status\n".encode("utf-16"), "binary or UTF-16"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not UTF-8"),
        ("channel,value,purpose,status\nemail,zoë@x.org,C,opted_in\n".encode("latin-1"), "UTF-8"),
        (b"PK\x03\x04\x14\x00\x06\x00", "binary"),
        (b"Dear customer,\nthanks for your order.\n", "missing column(s) channel, value, purpose"),
        (b"channel,value,purpose,status,colour\n", "unknown column(s) 'colour'"),
        (b"channel,value,purpose,status,status\n", "repeated column(s) status"),
        (b"email;ada@example.org;Commercial;opted_in\n", "missing column(s)"),
        (b'"channel,value\n', "not valid CSV"),
    ],
)
def test_a_file_that_is_not_a_consent_csv_is_refused_at_upload(profile, content, message):
    with pytest.raises(ValidationError) as caught:
        consent_load_create(file=content, file_name="x.csv", dispatch=False)
    (text,) = caught.value.message_dict["file"]
    assert message in text
    assert not ConsentLoad.objects.exists()


def test_the_refusal_names_the_expected_header(profile):
    with pytest.raises(ValidationError) as caught:
        consent_load_create(file=b"email,phone\n", dispatch=False)
    assert load_rows.HEADER in caught.value.message_dict["file"][0]


def big_file_with(tail: bytes) -> bytes:
    row = b"email,someone@example.org,Commercial,,opted_in,,,,\n"
    body = row * (CHUNK_SIZE // len(row) + 10)  # past the first chunk checked at upload
    return HEADER.encode() + body + tail


@pytest.mark.parametrize(
    "tail, message",
    [
        (b"email,caf\xe9@example.org,Commercial,,opted_in,,,,\n", "not UTF-8 text"),
        (b"email,x@example.org,Commercial,,opted_in,,\x00,,\n", "binary"),
        (b'email,"x@example.org,Commercial,,opted_in,,,,\n' + b"y" * 70_000, "longer than"),
    ],
)
def test_a_problem_past_the_first_chunk_refuses_the_whole_file_and_writes_nothing(
    commercial, tail, message
):
    result = load(big_file_with(tail), mode="skip")

    assert result.status == "failed"
    assert message in result.message
    assert ContactPointConsent.objects.count() == History.objects.count() == 0
    assert not result.chunks.exists()


def test_an_unterminated_quote_is_refused_with_its_line(commercial):
    result = load(csv_text('email,"ada@example.org,Commercial,,opted_in,,,,'), mode="skip")

    assert result.status == "failed"
    assert "not valid CSV" in result.message and "Line 2" in result.message


def test_a_huge_field_is_refused_cleanly(commercial):
    huge = "x" * 200_000
    with pytest.raises(ValidationError, match="longer than"):
        load(csv_text(f'email,ada@example.org,Commercial,,opted_in,,"{huge}",,'), mode="skip")
    assert ContactPointConsent.objects.count() == 0


# ---------------------------------------------------------------------------------------------
# Row validation: line, column, message


def test_every_invalid_column_is_reported_with_its_line(commercial, newsletter):
    future = (timezone.now() + timedelta(days=2)).isoformat()
    text = csv_text(
        "fax,ada@example.org,Commercial,,opted_in,,,,",  # 2
        "email,not-an-email,Commercial,,opted_in,,,,",  # 3
        "sms,12,Commercial,,opted_in,,,,",  # 4
        "email,ada@example.org,Marketing,,opted_in,,,,",  # 5
        "email,ada@example.org,Commercial,Events,opted_in,,,,",  # 6
        "email,ada@example.org,Commercial,,maybe,,,,",  # 7
        "email,ada@example.org,Commercial,,opted_in,rumour,,,",  # 8
        "email,ada@example.org,Commercial,,opted_in,,,yesterday,",  # 9
        f"email,ada@example.org,Commercial,,opted_in,,,{future},",  # 10
        f"email,ada@example.org,Commercial,,opted_in,,{'r' * 201},,",  # 11
        f"email,ada@example.org,Commercial,,opted_in,,,,{'q' * 201}",  # 12
        "email,ada@example.org,Commercial",  # 13
        "email,ada@example.org,Commercial,,opted_in,,,1969-12-31T00:00:00Z,",  # 14
        "email,,Commercial,,opted_in,,,,",  # 15
    )
    result = load(text, mode="skip")

    assert result.status == "done"
    assert errors(result) == [
        (2, "channel", "invalid"),
        (3, "value", "invalid"),
        (4, "value", "invalid"),
        (5, "purpose", "invalid"),
        (6, "topic", "invalid"),
        (7, "status", "invalid"),
        (8, "source", "invalid"),
        (9, "captured_at", "invalid"),
        (10, "captured_at", "invalid"),
        (11, "reason", "invalid"),
        (12, "requested_by", "invalid"),
        (13, "", "invalid"),
        (14, "captured_at", "invalid"),
        (15, "value", "invalid"),
    ]
    messages = {e["line"]: e["message"] for e in result.row_errors}
    assert "Unknown purpose 'Marketing'" in messages[5]
    assert "future" in messages[10]
    assert "Expected 9 values, found 3" in messages[13]
    assert (result.counts["invalid"], result.counts["rows"], result.counts["written"]) == (
        14,
        14,
        0,
    )


def test_one_row_can_have_several_errors(commercial):
    result = load(csv_text("email,nope,Nothing,,maybe,,,,"), mode="skip")

    assert errors(result) == [
        (2, "value", "invalid"),
        (2, "purpose", "invalid"),
        (2, "status", "invalid"),
    ]
    assert result.counts["invalid"] == 1


def test_stored_row_errors_are_capped_but_the_total_is_kept(commercial, monkeypatch):
    monkeypatch.setattr(report, "MAX_ROW_ERRORS", 5)
    result = load(csv_text(*["email,bad,Commercial,,opted_in,,,,"] * 12), mode="skip")

    assert len(result.row_errors) == 5
    assert (result.row_errors_total, result.counts["invalid"]) == (12, 12)


def test_blank_lines_are_ignored(commercial):
    result = load(HEADER + "\nemail,ada@example.org,Commercial,,opted_in,,,,\n\n")

    assert (result.status, result.counts["rows"], result.counts["written"]) == ("done", 1, 1)


# ---------------------------------------------------------------------------------------------
# Modes and preview

MIXED = csv_text(
    "email,ada@example.org,Commercial,,opted_in,,,,",
    "email,broken,Commercial,,opted_in,,,,",
    "email,bob@example.org,Commercial,,opted_out,,,,",
)


def test_reject_mode_writes_nothing_when_any_row_is_invalid(commercial):
    result = load(MIXED)

    assert result.status == "failed"
    assert "1 invalid row(s): nothing was written" in result.message
    assert errors(result) == [(3, "value", "invalid")]
    assert ContactPointConsent.objects.count() == History.objects.count() == 0
    assert result.counts["written"] == 0


def test_skip_mode_writes_the_valid_rows_and_lists_the_invalid_ones(commercial):
    result = load(MIXED, mode="skip")

    assert result.status == "done"
    assert errors(result) == [(3, "value", "invalid")]
    assert ContactPointConsent.objects.count() == History.objects.count() == 2
    assert (result.counts["opt_ins"], result.counts["opt_outs"], result.counts["invalid"]) == (
        1,
        1,
        1,
    )


def test_a_dry_run_counts_what_would_change_and_writes_nothing(commercial):
    factories.cp_consent(
        value="old@example.org",
        purpose_obj=commercial,
        status="opted_in",
        captured_at=timezone.now() - timedelta(days=1),
    )
    factories.cp_consent(value="same@example.org", purpose_obj=commercial, status="opted_in")
    contact_point_consent_set(
        channel="email",
        value="same@example.org",
        purpose=commercial,
        status="opted_out",
        evidence=Evidence(
            source="loaded", captured_at=datetime(2024, 1, 1, tzinfo=UTC), notice_version=""
        ),
    )
    records, history = ContactPointConsent.objects.count(), History.objects.count()
    text = csv_text(
        "email,new@example.org,Commercial,,opted_in,,,,",
        "email,old@example.org,Commercial,,opted_out,,,2020-01-01T00:00:00Z,",
        "email,same@example.org,Commercial,,opted_out,,,2024-01-01T00:00:00Z,",
        "email,out@example.org,Commercial,,opted_out,,,,",
        "email,bad,Commercial,,opted_out,,,,",
    )
    result = load(text, dry_run=True, mode="skip")

    assert result.status == "previewed"
    counts = result.counts
    assert (counts["opt_ins"], counts["opt_outs"], counts["unchanged"], counts["stale"]) == (
        1,
        1,
        1,
        1,
    )
    assert (counts["invalid"], counts["written"]) == (1, 0)
    assert (ContactPointConsent.objects.count(), History.objects.count()) == (records, history)
    assert result.chunks.exists()  # kept for the confirmation


def test_a_confirmed_preview_writes_as_a_new_load_that_takes_over_the_file(commercial, loader, dpo):
    preview = load(MIXED, dry_run=True, mode="skip", user=loader)
    confirmed = consent_load_run(
        load=consent_load_confirm(preview=preview, user=dpo, dispatch=False)
    )

    assert (confirmed.status, confirmed.preview, confirmed.counts["written"]) == (
        "done",
        preview,
        2,
    )
    assert {h.history_user for h in History.objects.all()} == {dpo}
    assert not ConsentLoadChunk.objects.exists()
    preview.refresh_from_db()
    assert preview.status == "previewed" and not preview.can_confirm
    with pytest.raises(ValidationError):
        consent_load_confirm(preview=preview, user=dpo, dispatch=False)


def test_a_reject_preview_with_invalid_rows_cannot_be_confirmed(commercial, dpo):
    preview = load(MIXED, dry_run=True)

    assert preview.status == "previewed" and not preview.can_confirm
    with pytest.raises(ValidationError):
        consent_load_confirm(preview=preview, user=dpo, dispatch=False)


def test_unconfirmed_preview_files_are_purged_after_a_day(commercial):
    preview = load(MIXED, dry_run=True, mode="skip")

    assert consent_load_files_purge() == 0
    assert consent_load_files_purge(now=timezone.now() + timedelta(days=2)) > 0
    assert not preview.can_confirm


def test_running_a_finished_load_again_changes_nothing(commercial):
    result = load(csv_text("email,ada@example.org,Commercial,,opted_in,,,,"))
    again = consent_load_run(load=result)

    assert again.status == "done"
    assert History.objects.count() == 1


# ---------------------------------------------------------------------------------------------
# Stale, unchanged, duplicates, suppressed


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


# ---------------------------------------------------------------------------------------------
# Email normalization: the fast path is normalize_address


@pytest.mark.parametrize(
    "raw",
    [
        "  Ada.Lovelace+crm@Example.ORG ",
        "info@EXAMPLE.org",
        "a@b.co",
        "x@localhost",
        "x@example.invalid",
        "x@123.45",
        "x@-example.org",
        "x@example..org",
        "x.@example.org",
        ".x@example.org",
        "a" * 250 + "@example.org",
        "x@xn--bcher-kva.de",
        "zoë@example.org",
        '"quoted"@example.org',
        "x@[127.0.0.1]",
        "Name <x@example.org>",
    ],
)
def test_the_fast_email_path_agrees_with_normalize_address(raw):
    assert_same_normalization(raw)


def assert_same_normalization(raw: str) -> None:
    """The load's shortcut gives what normalize_address gives, or leaves the address to it."""
    fast = _fast_email(raw)
    try:
        expected = normalize_address("email", raw)
    except ValidationError:
        assert fast is None
    else:
        assert fast in (None, expected)


ADDRESS_CHARS = st.sampled_from("aAzZ09.-_+!#'@ é\tÉ")


@settings(max_examples=300, deadline=None)
@given(
    local=st.text(ADDRESS_CHARS, min_size=0, max_size=12),
    domain=st.text(st.sampled_from("abcXYZ019.-"), min_size=0, max_size=14),
)
def test_the_fast_email_path_agrees_with_normalize_address_on_generated_input(local, domain):
    assert_same_normalization(f"{local}@{domain}")


def test_the_write_knows_every_column_of_the_record_and_its_history():
    assert "captured_at" in _loaded_values()
    assert "history_source" in _history_sql()


# ---------------------------------------------------------------------------------------------
# Migration mode: from subject preferences and subscription lists


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


def test_a_file_and_the_migration_mode_exclude_each_other(profile):
    with pytest.raises(ValidationError) as caught:
        consent_load_create(file=b"x", from_subjects=True, dispatch=False)
    assert "file" in caught.value.message_dict
    with pytest.raises(ValidationError):
        consent_load_create(dispatch=False)


# ---------------------------------------------------------------------------------------------
# The command


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


def test_roles_may_load_consent_except_the_service_desk(dpo, marketer, service_desk):
    for user in (dpo, marketer):
        assert user.has_perms(["consent.add_consentload", "consent.view_consentload"])
    assert not service_desk.has_perm("consent.add_consentload")
    assert not service_desk.has_perm("consent.view_consentload")


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


def test_a_semicolon_separated_file_gets_a_hint(profile):
    text = b"channel;value;purpose;topic;status\nemail;a@example.org;Commercial;;opted_in\n"
    with pytest.raises(ValidationError) as caught:
        consent_load_create(file=text, file_name="export.csv", dispatch=False)
    assert "separated by semicolons" in caught.value.message_dict["file"][0]
    assert not ConsentLoad.objects.exists()
