"""The consent ledger's appender (consent/ledger/chain.py): every write path seals the history
rows it writes in its own transaction, one entry per row, and the chain stays valid."""

from datetime import date, timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from common import audit
from common.audit import Evidence
from consent.ledger import chain as chain_module
from consent.ledger.canonical import entry_hash
from consent.ledger.verify import ledger_verify
from consent.loads.runner import consent_load_create, consent_load_run
from consent.models import (
    ContactPointConsent,
    DataConsent,
    LedgerEntry,
    LedgerHead,
)
from consent.models.ledger import GENESIS_HASH
from consent.services.contact_points import (
    contact_point_consent_set,
    contact_point_consents_expire,
    suppression_add,
)
from consent.services.data_consents import data_consent_cancel, data_consents_expire
from consent.services.erasure import subject_anonymize
from consent.services.subjects import lead_qualify, subject_update
from subjects.models import Contact, Lead
from subjects.services import SYSTEM, contact_deactivate
from tests import factories
from tests.consent.ledger.helpers import entry_for, raw, table, unsealed_rows

pytestmark = pytest.mark.django_db

OPTED_IN = ContactPointConsent.Status.OPTED_IN
OPTED_OUT = ContactPointConsent.Status.OPTED_OUT


def _entries() -> int:
    return LedgerEntry.objects.count()


def _history_rows() -> int:
    models = (ContactPointConsent, DataConsent, Lead, Contact)
    return sum(model.history.count() for model in models)


def _assert_sealed_and_valid():
    assert unsealed_rows() == 0
    result = ledger_verify()
    # PostgreSQL digests bulk rows in SQL: the Python walk must agree with every entry.
    assert ledger_verify(set_based=False) == result
    assert result == {
        "ok": True,
        "entries": _entries(),
        "head": {"sequence": _entries(), "hash": LedgerHead.objects.get().hash},
        "first_bad_entry": None,
    }


def _records_saved_one_by_one(purpose, prefix: str, count: int) -> None:
    """Records saved through the ORM, each with its own history row (no service, no seal)."""
    for n in range(count):
        ContactPointConsent.objects.create(
            channel="email",
            value=f"{prefix}{n}@example.org",
            purpose=purpose,
            status=OPTED_IN,
            source="internal",
            captured_at=timezone.now(),
        )


def test_a_service_write_seals_its_history_row_in_the_chain(commercial):
    before = _entries()
    record, _, _ = contact_point_consent_set(
        channel="email",
        value="ada@example.org",
        purpose=commercial,
        status=OPTED_IN,
        evidence=Evidence(source="api", reason="signed up"),
    )

    assert _entries() == before + 1
    row = record.history.get()
    entry = entry_for(row)
    previous = LedgerEntry.objects.filter(sequence=entry.sequence - 1).first()
    prev_hash = previous.hash if previous else GENESIS_HASH
    assert (entry.sequence, entry.prev_hash) == (before + 1, prev_hash)
    assert entry.hash == entry_hash(prev_hash, entry.sequence, entry.digest)
    assert LedgerHead.objects.get().hash == entry.hash
    _assert_sealed_and_valid()


@pytest.mark.postgres
def test_on_postgresql_a_single_write_is_sealed_by_a_prepared_generic_plan(commercial):
    """The seal statement is planned once per connection (its plan may not depend on the ids),
    and the transaction's plan_cache_mode is given back as found."""
    if connection.vendor != "postgresql":
        pytest.skip("prepared statements and plan_cache_mode are PostgreSQL's")

    def write(n):
        contact_point_consent_set(
            channel="email",
            value=f"prepared{n}@example.org",
            purpose=commercial,
            status=OPTED_IN,
            evidence=Evidence(source="api", reason="signed up"),
        )

    def plans():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT COALESCE(SUM(generic_plans), 0), COALESCE(SUM(custom_plans), 0) "
                "FROM pg_prepared_statements WHERE statement LIKE '%%WITH RECURSIVE head%%'"
            )
            return cursor.fetchone()

    write(0)  # the connection has prepared it (perhaps in an earlier test)
    generic, custom = plans()
    with transaction.atomic():  # as an outer transaction around several services
        for n in range(1, 4):
            write(n)
        with connection.cursor() as cursor:
            cursor.execute("SHOW plan_cache_mode")
            assert cursor.fetchone()[0] == "auto"
    assert plans() == (generic + 3, custom)
    _assert_sealed_and_valid()


def test_a_transaction_writing_more_rows_than_it_names_is_sealed_from_the_lowest_id(
    commercial, monkeypatch
):
    """Past SINGLE_IDS_MAX rows one by one, a connection stops keeping their ids (one that
    only writes unsealed history would keep them for ever); the seal then takes every row
    from the lowest id up, and none is missed."""
    monkeypatch.setattr(audit, "SINGLE_IDS_MAX", 2)

    entries = _entries()
    audit.sealed_atomic(_records_saved_one_by_one)(commercial, "cap", 5)

    assert _entries() == entries + 5
    _assert_sealed_and_valid()


def test_a_connection_names_at_most_single_ids_max_rows_per_table(commercial, monkeypatch):
    monkeypatch.setattr(audit, "SINGLE_IDS_MAX", 2)
    history = ContactPointConsent.history.model
    label = history._meta.label_lower

    audit.history_unsealed()  # start from nothing noted
    with transaction.atomic():
        _records_saved_one_by_one(commercial, "two", 2)
        two = audit.history_unsealed()  # takes and forgets
        _records_saved_one_by_one(commercial, "three", 3)
        three = audit.history_unsealed()
        first_of_three = history.objects.order_by("history_id")[2].history_id
        transaction.set_rollback(True)
    assert len(two.ids[label]) == 2 and not two.bulk
    assert three.ids[label] is None  # past the limit: no longer named
    assert three.lows[label] == first_of_three  # sealed from there up


def test_the_entries_hold_no_address(commercial):
    contact_point_consent_set(
        channel="email",
        value="secret.person@example.org",
        purpose=commercial,
        status=OPTED_IN,
        evidence=Evidence(source="api"),
    )
    text = " ".join(str(v) for row in LedgerEntry.objects.values_list() for v in row)
    assert "secret.person" not in text


def test_subject_and_data_consent_writes_are_sealed_row_for_row(policy):
    history_before, entries_before = _history_rows(), _entries()
    contact = factories.contact()
    consent = factories.consent(subject=contact, policy_obj=policy)
    data_consent_cancel(consent=consent)
    subject_update(subject=contact, data={"allow_sms": False}, user=SYSTEM)
    lead = factories.lead()
    lead_qualify(lead=lead, convert=True)

    written = _history_rows() - history_before
    assert written >= 8
    assert _entries() - entries_before == written
    _assert_sealed_and_valid()


def test_a_lifecycle_transition_of_the_subjects_app_is_sealed():
    contact = factories.contact()
    before = _entries()
    contact_deactivate(contact=contact)
    assert _entries() == before + 1
    _assert_sealed_and_valid()


def test_a_bulk_load_seals_every_row_it_writes(commercial):
    history_before, entries_before = ContactPointConsent.history.count(), _entries()
    text = "channel,value,purpose,topic,status,source,reason,captured_at,requested_by\n" + "".join(
        f"email,person{n}@example.org,Commercial,,opted_in,,fair,,\n" for n in range(30)
    )
    load = consent_load_create(file=text.encode(), file_name="c.csv", dispatch=False)
    load = consent_load_run(load=load)

    assert load.status == "done", load.message
    written = ContactPointConsent.history.count() - history_before
    assert written == 30
    assert _entries() - entries_before == written
    _assert_sealed_and_valid()


def test_a_bulk_seal_crosses_its_batches_without_losing_or_repeating_a_row(commercial, monkeypatch):
    """Batches of 4 over 30 rows (and over the rows sealed before): each batch is a range of
    ids, the last one open-ended, and every row is sealed exactly once."""
    monkeypatch.setattr(chain_module, "BATCH_SIZE", 4)
    contact_point_consent_set(
        channel="email",
        value="before@example.org",
        purpose=commercial,
        status=OPTED_IN,
        evidence=Evidence(source="internal"),
    )
    text = "channel,value,purpose,topic,status,source,reason,captured_at,requested_by\n" + "".join(
        f"email,batch{n}@example.org,Commercial,,opted_in,,fair,,\n" for n in range(30)
    )
    entries_before = _entries()

    load = consent_load_run(
        load=consent_load_create(file=text.encode(), file_name="c.csv", dispatch=False)
    )

    assert load.status == "done", load.message
    assert _entries() - entries_before == 30
    sealed = LedgerEntry.objects.filter(model="consent.historicalcontactpointconsent")
    ids = list(sealed.values_list("history_id", flat=True))
    assert len(ids) == len(set(ids)) == ContactPointConsent.history.count()
    _assert_sealed_and_valid()


def test_a_batched_seal_skips_the_sealed_rows_inside_its_batches(commercial, monkeypatch):
    """Unsealed history rows between sealed ones (history written out of band, then sealed by
    the backlog command) in batches of 2: only they get entries, each once."""
    monkeypatch.setattr(chain_module, "BATCH_SIZE", 2)

    def write(n):
        record, _, _ = contact_point_consent_set(
            channel="email",
            value=f"gap{n}@example.org",
            purpose=commercial,
            status=OPTED_IN,
            evidence=Evidence(source="internal"),
        )
        return record

    history_model = ContactPointConsent.history.model
    meta = {"history_date": "updated_at", "history_type": "'~'"}
    meta |= {
        "history_change_reason": "'out of band'",
        "history_source": "''",
        "history_user_id": "NULL",
    }
    columns = [f.column for f in history_model._meta.concrete_fields if f.column != "history_id"]
    copy_row = (
        f"INSERT INTO {table(history_model)} ({', '.join(columns)}) "
        f"SELECT {', '.join(meta.get(column, column) for column in columns)} "
        f"FROM {table(ContactPointConsent)} WHERE id = %s"
    )
    for n in range(6):
        record = write(n)
        if n in (1, 3):
            raw(copy_row, [record.pk])  # between sealed rows
    assert unsealed_rows() == 2
    entries = _entries()

    assert chain_module.ledger_seal_backlog() == 2

    assert _entries() == entries + 2
    _assert_sealed_and_valid()


def test_the_data_consent_expiry_sweep_seals_its_rows(policy):
    for _ in range(3):
        factories.consent(subject=factories.contact(), policy_obj=policy)
    history_before, entries_before = _history_rows(), _entries()

    assert data_consents_expire(today=date.today() + timedelta(days=4000)) == 3

    written = _history_rows() - history_before
    assert written >= 6  # the consents and their subjects' derived fields
    assert _entries() - entries_before == written
    _assert_sealed_and_valid()


def test_the_contact_point_expiry_sweep_seals_its_rows(commercial):
    for n in range(3):
        contact_point_consent_set(
            channel="email",
            value=f"soon{n}@example.org",
            purpose=commercial,
            status=OPTED_IN,
            evidence=Evidence(source="api"),
            expires_at=timezone.now() + timedelta(days=1),
        )
    before = _entries()

    assert contact_point_consents_expire(now=timezone.now() + timedelta(days=2)) == 3

    assert _entries() == before + 3
    _assert_sealed_and_valid()


def test_anonymization_keeps_the_chain_valid_and_records_the_erased_rows(commercial, policy):
    contact = factories.contact(email="gone@example.org")
    factories.consent(subject=contact, policy_obj=policy, note="said so at the desk")
    for status in (OPTED_IN, OPTED_OUT):
        contact_point_consent_set(
            channel="email",
            value="gone@example.org",
            purpose=commercial,
            status=status,
            evidence=Evidence(source="verbal", description="told me on the phone"),
        )
    sealed_cpc_rows = ContactPointConsent.history.filter(value="gone@example.org").count()
    suppression_add(channel="sms", value="+31612345678", reason="test", user=None)

    subject_anonymize(subject=contact)

    erased = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.ERASE)
    assert erased.count() == sealed_cpc_rows == 2
    assert not ContactPointConsent.history.filter(value="gone@example.org").exists()
    assert Contact.history.filter(id=contact.pk, email__isnull=False).count() == 0
    _assert_sealed_and_valid()
