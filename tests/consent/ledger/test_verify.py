"""Verifying the consent ledger (consent/ledger/verify.py): tampering in raw SQL — an UPDATE of
a sealed history row, an edit or DELETE of an entry, a DELETE of a sealed row — is found at the
right entry, on SQLite and PostgreSQL alike; what anonymization scrubs is not sealed."""

import json

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from common.audit import Evidence
from consent.ledger.verify import ledger_verify
from consent.models import ComplianceProfile, ContactPointConsent, DataConsent, LedgerEntry
from consent.services.contact_points import contact_point_consent_set
from consent.services.data_consents import data_consent_cancel
from subjects.models import Contact
from tests import factories
from tests.consent.ledger.helpers import entry_for, raw, table

pytestmark = pytest.mark.django_db


@pytest.fixture
def chain(policy):
    """A few sealed writes of every kind; returns some of their history rows."""
    commercial = ComplianceProfile.objects.default().purposes.get(name="Commercial")
    contact = factories.contact()
    record, _, _ = contact_point_consent_set(
        channel="email",
        value="ada@example.org",
        purpose=commercial,
        status=ContactPointConsent.Status.OPTED_IN,
        evidence=Evidence(source="api", reason="signed up"),
    )
    consent = factories.consent(subject=contact, policy_obj=policy)
    data_consent_cancel(consent=consent)
    factories.contact()  # entries after the ones the tests tamper with
    assert _first_bad() is None
    return {
        "cpc": record.history.get(),
        "consent": consent.history.order_by("history_id").first(),
        "contact": contact.history.order_by("history_id").first(),
    }


def _first_bad() -> int | None:
    """The first bad entry; on PostgreSQL the set-based and the Python verification must give
    the same whole answer."""
    result = ledger_verify(set_based=False)
    if connection.vendor == "postgresql":
        assert ledger_verify(set_based=True) == result
    assert result["ok"] is (result["first_bad_entry"] is None)
    return result["first_bad_entry"]


@pytest.mark.parametrize(
    ("row", "column", "value"),
    [
        ("cpc", "status", "opted_out"),
        ("cpc", "purpose_id", 999),
        ("cpc", "source", "form"),
        ("cpc", "reason", "forged"),
        ("cpc", "value", "eve@example.org"),
        ("consent", "state", "inactive"),
        ("consent", "consent_level", 5),
        ("consent", "valid_until", "2099-01-01"),
        ("consent", "history_user_id", "a user"),
        ("contact", "allow_email", False),
        ("contact", "consent_level", 4),
        ("contact", "history_date", "2001-01-01 00:00:00"),
    ],
)
def test_an_out_of_band_update_of_a_sealed_row_is_found_at_its_entry(
    chain, make_user, row, column, value
):
    if value == "a user":
        value = make_user("forger").pk
    history = chain[row]
    entry = entry_for(history)
    raw(
        f"UPDATE {table(type(history))} SET {column} = %s WHERE history_id = %s",
        [value, history.history_id],
    )
    assert _first_bad() == entry.sequence


def test_a_deleted_sealed_row_is_found_at_its_entry(chain):
    history = chain["consent"]
    entry = entry_for(history)
    raw(
        f"DELETE FROM {table(DataConsent.history.model)} WHERE history_id = %s",
        [history.history_id],
    )
    assert _first_bad() == entry.sequence


def test_a_deleted_entry_is_found_at_its_sequence(chain):
    entry = entry_for(chain["cpc"])
    raw(f"DELETE FROM {table(LedgerEntry)} WHERE sequence = %s", [entry.sequence])
    assert _first_bad() == entry.sequence


def test_a_deleted_last_entry_is_found_against_the_head(chain):
    last = LedgerEntry.objects.order_by("-sequence").first()
    raw(f"DELETE FROM {table(LedgerEntry)} WHERE sequence = %s", [last.sequence])
    assert _first_bad() == last.sequence


@pytest.mark.parametrize("column", ["digest", "prev_hash", "hash", "history_id", "model"])
def test_an_edited_entry_is_found(chain, column):
    entry = entry_for(chain["contact"])
    value = "contact" if column == "model" else ("f" * 64 if column != "history_id" else 10**9)
    raw(
        f"UPDATE {table(LedgerEntry)} SET {column} = %s WHERE sequence = %s",
        [value, entry.sequence],
    )
    assert _first_bad() == entry.sequence


def test_an_entry_rewritten_with_a_matching_digest_breaks_the_next_link(chain):
    """Forging the digest and hash of an edited row still leaves the next entry's link."""
    from consent.ledger.canonical import SEALED, entry_hash, row_digester

    history = chain["cpc"]
    entry = entry_for(history)
    raw(
        f"UPDATE {table(type(history))} SET status = 'opted_out' WHERE history_id = %s",
        [history.history_id],
    )
    sealed = SEALED[entry.model]
    row = sealed.history.objects.filter(history_id=history.history_id).values_list(*sealed.columns)[
        0
    ]
    digest = row_digester(sealed)(row)
    forged = entry_hash(entry.prev_hash, entry.sequence, digest)
    raw(
        f"UPDATE {table(LedgerEntry)} SET digest = %s, hash = %s WHERE sequence = %s",
        [digest, forged, entry.sequence],
    )
    assert _first_bad() == entry.sequence + 1


def test_scrubbing_what_anonymization_scrubs_changes_no_digest(chain):
    for model, columns in (
        (
            Contact,
            "first_name = 'Anonymized', last_name = 'Anonymized', email = NULL, phone = NULL",
        ),
        (DataConsent, "note = '', ip_address = NULL, user_agent = '', history_change_reason = 'x'"),
    ):
        raw(f"UPDATE {table(model.history.model)} SET {columns}")
    assert _first_bad() is None


def test_the_command_prints_the_result_and_fails_on_a_broken_chain(chain, capsys):
    call_command("verify_ledger")
    result = json.loads(capsys.readouterr().out)
    assert result["ok"] and result["entries"] == LedgerEntry.objects.count()

    entry = entry_for(chain["cpc"])
    raw(
        f"UPDATE {table(LedgerEntry)} SET digest = %s WHERE sequence = %s",
        ["0" * 64, entry.sequence],
    )
    with pytest.raises(CommandError, match=f"entry {entry.sequence}"):
        call_command("verify_ledger")
    assert json.loads(capsys.readouterr().out)["first_bad_entry"] == entry.sequence


def test_awkward_text_and_erased_rows_verify_alike_on_both_paths(chain, policy):
    commercial = ComplianceProfile.objects.default().purposes.get(name="Commercial")
    contact = factories.contact(email="zoë@example.org")
    for status, reason in (("opted_in", "a|b\\c \\N ünïcode"), ("opted_out", "tab\there")):
        contact_point_consent_set(
            channel="email",
            value="zoë@example.org",
            purpose=commercial,
            status=status,
            evidence=Evidence(source="form", reason=reason),
        )
    from consent.services.erasure import subject_anonymize

    subject_anonymize(subject=contact)

    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.ERASE).count() == 2
    assert _first_bad() is None


def test_the_command_seals_the_backlog_written_before_the_ledger(chain, capsys):
    from tests.consent.ledger.helpers import unsealed_rows

    contact = Contact.objects.first()
    raw(
        f"INSERT INTO {table(Contact.history.model)} (id, first_name, last_name, email, phone, "
        "allow_email, allow_bulk_email, allow_phone, allow_sms, allow_postal_mail, allow_tracking, "
        "restricted, inherent_basis, inherent_basis_note, consent_level, "
        "data_protection_consent, created_at, state, history_date, history_type, "
        "history_change_reason, history_source) SELECT id, first_name, last_name, email, phone, "
        "allow_email, allow_bulk_email, allow_phone, allow_sms, allow_postal_mail, allow_tracking, "
        "restricted, inherent_basis, inherent_basis_note, consent_level, "
        "data_protection_consent, created_at, state, created_at, '+', 'legacy', '' "
        f"FROM {table(Contact)} WHERE id = %s",
        [contact.pk],
    )
    assert unsealed_rows() == 1

    call_command("verify_ledger", "--seal-backlog")

    assert unsealed_rows() == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True
