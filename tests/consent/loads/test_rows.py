"""consent/loads/rows.py: the header, and row validation (line, column, message); the fast e-mail
path agrees with normalize_address."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from consent.addresses import normalize_address
from consent.loads import rows as load_rows
from consent.loads.rows import _fast_email
from consent.loads.runner import (
    consent_load_create,
)
from consent.models import ConsentLoad
from tests.consent.loads.helpers import HEADER, csv_text, errors, load, record


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


def test_the_refusal_names_the_expected_header(profile):
    with pytest.raises(ValidationError) as caught:
        consent_load_create(file=b"email,phone\n", dispatch=False)
    assert load_rows.HEADER in caught.value.message_dict["file"][0]


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


def test_blank_lines_are_ignored(commercial):
    result = load(HEADER + "\nemail,ada@example.org,Commercial,,opted_in,,,,\n\n")

    assert (result.status, result.counts["rows"], result.counts["written"]) == ("done", 1, 1)


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


def test_a_semicolon_separated_file_gets_a_hint(profile):
    text = b"channel;value;purpose;topic;status\nemail;a@example.org;Commercial;;opted_in\n"
    with pytest.raises(ValidationError) as caught:
        consent_load_create(file=text, file_name="export.csv", dispatch=False)
    assert "separated by semicolons" in caught.value.message_dict["file"][0]
    assert not ConsentLoad.objects.exists()
