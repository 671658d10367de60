"""The data-consent expiry sweep (DESIGN §3.2 lifecycle, §7): history rows, derived subject
fields, idempotence, batching, and the lock order it shares with interactive writers.

PostgreSQL runs the set-based path, SQLite the ORM path; both must leave the same rows.
"""

import inspect
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection, transaction
from django.utils import timezone

from common.audit import Source, evidence_from, stamp
from consent.models import ContactPointConsent, DataConsent
from consent.services import contact_points as contact_point_services
from consent.services import data_consents
from consent.services.contact_points import (
    EXPIRED_STATE,
    EXPIRY_BATCH_SIZE,
    contact_point_consent_set,
    contact_point_consents_expire,
)
from consent.services.data_consents import (
    _due_for_expiry,
    data_consent_cancel,
    data_consent_update,
    data_consents_expire,
)
from consent.services.subjects import lead_qualify, subject_update
from consent.services.summaries import subjects_refresh
from subjects.models import PREFERENCE_FIELDS, Contact, Lead
from subjects.services import SYSTEM
from tests import factories

SWEEP_DAY = timezone.localdate() + timedelta(days=3)  # consents valid for 1 day are due
VOLATILE = {"history_id", "history_date", "updated_at"}  # timestamps of the write itself


def refreshed(obj):
    obj.refresh_from_db()
    return obj


def due_consent(subject, *, level: int = 4, **kwargs) -> DataConsent:
    policy = factories.policy(consent_level=level, validity_days=1)
    return factories.consent(subject=subject, policy_obj=policy, **kwargs)


def lasting_consent(subject, *, level: int = 2) -> DataConsent:
    policy = factories.policy(consent_level=level, validity_days=90)
    return factories.consent(subject=subject, policy_obj=policy)


def rows(queryset, *, without=VOLATILE) -> list[dict]:
    return [
        {k: v for k, v in row.items() if k not in without}
        for row in queryset.order_by("pk").values()
    ]


def history_rows(model, *, without=VOLATILE) -> list[dict]:
    queryset = model.history.order_by("id", "history_date", "history_id")
    return [{k: v for k, v in row.items() if k not in without} for row in queryset.values()]


def database_state() -> dict:
    return {
        "consents": rows(DataConsent.objects.all()),
        "leads": rows(Lead.objects.all()),
        "contacts": rows(Contact.objects.all()),
        "consent_history": history_rows(DataConsent),
        "lead_history": history_rows(Lead),
        "contact_history": history_rows(Contact),
    }


def build_mixed_data() -> dict:
    """Subjects in every situation the derivation distinguishes, and consents in each state."""
    plain, restricted, inherent, remaining = (factories.contact() for _ in range(4))
    inherent = subject_update(subject=inherent, data={"inherent_basis": True}, user=SYSTEM)
    due_consent(plain)
    due_consent(restricted, level=5)
    subject_update(subject=restricted, data={"restricted": True}, user=SYSTEM)
    due_consent(inherent)
    due_consent(remaining, level=5)
    lasting_consent(remaining, level=2)
    lead = factories.lead()
    due_consent(lead, level=3)
    converted_lead = factories.lead()
    shared = due_consent(converted_lead, level=4)
    converted = lead_qualify(lead=converted_lead, convert=True)
    unchanged = factories.contact()  # a lower, earlier consent expires: nothing derived moves
    due_consent(unchanged, level=2)
    lasting_consent(unchanged, level=4)
    cancelled = due_consent(factories.contact())
    data_consent_cancel(consent=cancelled)
    evidence = due_consent(
        factories.contact(), note="signed form", ip_address="192.0.2.7", user_agent="UA/1"
    )
    return {
        "plain": plain,
        "restricted": restricted,
        "inherent": inherent,
        "remaining": remaining,
        "lead": lead,
        "shared": shared,
        "converted": converted,
        "unchanged": unchanged,
        "cancelled": cancelled,
        "evidence": evidence,
    }


@pytest.mark.django_db
def test_sweep_expires_due_consents_and_recomputes_every_affected_subject():
    data = build_mixed_data()
    unchanged_history = data["unchanged"].history.count()
    assert data_consents_expire(today=SWEEP_DAY) == 8

    assert not DataConsent.objects.due_for_expiry(today=SWEEP_DAY).exists()
    assert refreshed(data["cancelled"]).status_reason == "cancelled"
    expected = {
        "plain": (0, None, "restrict"),
        "restricted": (0, None, "restrict"),
        "inherent": (0, None, "inherent"),
        "lead": (0, None, "restrict"),
        "converted": (0, None, "restrict"),
    }
    for name, derived in expected.items():
        subject = refreshed(data[name])
        assert (
            subject.consent_level,
            subject.max_expiry_date,
            subject.data_protection_consent,
        ) == (derived), name
    remaining = refreshed(data["remaining"])
    lasting = DataConsent.objects.get(contact=remaining, state="active")
    assert (remaining.consent_level, remaining.max_expiry_date) == (2, lasting.valid_until)
    assert remaining.data_protection_consent == "explicit"
    shared = refreshed(data["shared"])
    assert shared.status_reason == "expired" and shared.lead_id and shared.contact_id
    unchanged = refreshed(data["unchanged"])
    assert (unchanged.consent_level, unchanged.data_protection_consent) == (4, "explicit")
    assert unchanged.history.count() == unchanged_history  # no change, no history row


@pytest.mark.django_db
def test_subject_becoming_restrict_on_expiry_loses_every_preference_with_a_history_row():
    contact = factories.contact()
    due_consent(contact)
    assert all(getattr(refreshed(contact), name) for name in PREFERENCE_FIELDS)

    data_consents_expire(today=SWEEP_DAY)

    contact = refreshed(contact)
    assert contact.data_protection_consent == "restrict"
    assert not any(getattr(contact, name) for name in PREFERENCE_FIELDS)
    row = contact.history.latest()
    assert (row.history_change_reason, row.history_source, row.history_user) == (
        "data consent expired",
        "system",
        None,
    )
    assert (row.history_type, row.data_protection_consent, row.allow_email) == (
        "~",
        "restrict",
        False,
    )


@pytest.mark.django_db
def test_subject_already_restricted_keeps_the_preferences_it_has():
    contact = factories.contact()
    due_consent(contact)
    subject_update(subject=contact, data={"restricted": True}, user=SYSTEM)
    subject_update(subject=refreshed(contact), data={"allow_postal_mail": True})

    data_consents_expire(today=SWEEP_DAY)

    contact = refreshed(contact)
    assert (contact.data_protection_consent, contact.allow_postal_mail) == ("restrict", True)


@pytest.mark.django_db
def test_sweep_history_rows_equal_what_the_single_row_path_writes():
    """One consent expired by the sweep, its twin by a plain save(): identical history rows,
    apart from the row's own ids and timestamps."""
    twin_subjects = [factories.contact(), factories.contact()]
    given_at = timezone.now() - timedelta(hours=1)
    policy = factories.policy(consent_level=3, validity_days=1)
    by_save, by_sweep = (
        factories.consent(
            subject=subject,
            policy_obj=policy,
            given_at=given_at,
            note="phone call",
            ip_address="2001:db8::1",
            user_agent="UA/2",
        )
        for subject in twin_subjects
    )
    before = timezone.now()
    by_save.state, by_save.status_reason = "inactive", "expired"
    stamp(by_save, source=Source.SYSTEM, reason="expired")
    by_save.save()
    subjects_refresh(
        model=Contact, ids=[by_save.contact_id], source=Source.SYSTEM, reason="data consent expired"
    )

    assert data_consents_expire(today=SWEEP_DAY) == 1
    after = timezone.now()

    def latest(model, pk) -> dict:
        return model.history.filter(id=pk).order_by("-history_id").values().first()

    differ = {"history_id", "history_date", "id", "contact_id", "created_at"}
    saved, swept = latest(DataConsent, by_save.pk), latest(DataConsent, by_sweep.pk)
    assert {k: v for k, v in swept.items() if k not in differ} == {
        k: v for k, v in saved.items() if k not in differ
    }
    assert (swept["history_type"], swept["history_source"], swept["history_user_id"]) == (
        "~",
        "system",
        None,
    )
    assert before <= swept["history_date"] <= after
    assert swept["history_date"] == refreshed(by_sweep).updated_at

    differ |= {"last_name", "email", "phone"}  # the twins' own PII
    saved, swept = latest(Contact, twin_subjects[0].pk), latest(Contact, twin_subjects[1].pk)
    assert {k: v for k, v in swept.items() if k not in differ} == {
        k: v for k, v in saved.items() if k not in differ
    }
    assert before <= swept["history_date"] <= after


@pytest.mark.django_db
def test_sweep_is_idempotent_and_writes_no_second_history_row():
    build_mixed_data()
    data_consents_expire(today=SWEEP_DAY)
    state = database_state()

    assert data_consents_expire(today=SWEEP_DAY) == 0

    assert database_state() == state


@pytest.mark.django_db
@pytest.mark.parametrize(("batch_size", "window"), [(1, 100), (2, 3), (3, 2)])
def test_batches_and_windows_expire_every_due_consent_once(monkeypatch, batch_size, window):
    monkeypatch.setattr(data_consents, "EXPIRY_WINDOW", window)
    contacts = [factories.contact() for _ in range(3)]
    for n in range(7):  # same and different valid_until values across batch boundaries
        due_consent(contacts[n % 3], given_at=timezone.now() - timedelta(days=n % 2))
    history_before = DataConsent.history.count()

    assert data_consents_expire(today=SWEEP_DAY, batch_size=batch_size) == 7

    assert DataConsent.history.count() == history_before + 7
    assert set(DataConsent.objects.values_list("status_reason", flat=True)) == {"expired"}
    assert {refreshed(c).data_protection_consent for c in contacts} == {"restrict"}


@pytest.mark.django_db
def test_consent_changed_after_the_read_is_handled_by_a_later_pass(monkeypatch):
    """Between the unlocked read and the locks, one due consent is cancelled and another is
    linked to a new contact: the first stays cancelled, the second expires in the next pass
    and its new contact is recomputed."""
    first, second, newcomer = factories.contact(), factories.contact(), factories.contact()
    cancelled, relinked = due_consent(first), due_consent(second)
    read = _due_for_expiry
    calls = []

    def read_then_change(**kwargs):
        due = read(**kwargs)
        if not calls:
            data_consent_cancel(consent=cancelled)
            DataConsent.objects.filter(pk=relinked.pk).update(contact=newcomer)
        calls.append(len(due))
        return due

    monkeypatch.setattr(data_consents, "_due_for_expiry", read_then_change)

    assert data_consents_expire(today=SWEEP_DAY) == 1

    assert calls == [2, 1]  # the first pass read both; the second found the relinked one
    assert refreshed(cancelled).status_reason == "cancelled"
    assert refreshed(relinked).status_reason == "expired"
    assert refreshed(newcomer).data_protection_consent == "restrict"


@pytest.mark.django_db
def test_set_based_and_orm_paths_leave_the_same_rows(postgresql_only):
    build_mixed_data()
    results = {}
    for set_based in (True, False):
        with pytest.raises(_Rollback), transaction.atomic():
            expired = data_consents._consents_expire(
                today=SWEEP_DAY, batch_size=3, set_based=set_based
            )
            results[set_based] = (expired, database_state())
            raise _Rollback
    assert results[True][0] == 8
    assert results[True] == results[False]


class _Rollback(Exception):
    pass


@pytest.fixture
def postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("the set-based path and row locks are PostgreSQL's")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_sweep_locks_subjects_before_consents_like_interactive_writers(postgresql_only):
    """An interactive edit holds the subject, the sweep then waits for it, and the edit goes
    on to lock the consent. Consents before subjects, the sweep would hold the consent the
    edit needs while waiting for the subject the edit holds: a deadlock."""
    contact = factories.contact()
    consent = due_consent(contact)
    sweep_pid, results = [], {}
    subject_held = threading.Event()

    def sweep():
        subject_held.wait(10)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            sweep_pid.append(cursor.fetchone()[0])
        try:
            results["sweep"] = data_consents_expire(today=SWEEP_DAY)
        except Exception as exc:  # a deadlock error is the failure this test looks for
            results["sweep"] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=sweep)
    thread.start()
    try:
        with transaction.atomic():
            Contact.objects.select_for_update().get(pk=contact.pk)  # as the edit's first lock
            subject_held.set()
            while not sweep_pid:
                time.sleep(0.01)
            _wait_until_blocked(sweep_pid[0])
            data_consent_update(consent=consent, data={"note": "edited meanwhile"})
    finally:
        thread.join(30)

    assert results["sweep"] == 1
    consent = refreshed(consent)
    assert (consent.note, consent.status_reason) == ("edited meanwhile", "expired")
    reasons = list(
        consent.history.order_by("history_id").values_list("history_change_reason", flat=True)
    )
    assert reasons[-2:] == ["edited", "expired"]


def _wait_until_blocked(pid: int, *, seconds: float = 10) -> None:
    """Wait until backend `pid` waits for a lock. Polled from a connection of its own: within
    a transaction, pg_stat_activity is a snapshot taken at its first read."""
    blocked = []

    def poll():
        deadline = time.monotonic() + seconds
        try:
            while not blocked and time.monotonic() < deadline:
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = %s",
                        [pid],
                    )
                    row = cursor.fetchone()
                if row and row[0]:
                    blocked.append(True)
                time.sleep(0.05)
        finally:
            connection.close()

    poller = threading.Thread(target=poll)
    poller.start()
    poller.join(seconds + 5)
    assert blocked, "the sweep never waited for the subject lock"


# ---------------------------------------------------------------------------------------------
# Contact-point opt-ins past `expires_at`


def opt_in(value: str, *, expires_at, purpose, **fields) -> ContactPointConsent:
    evidence, _ = evidence_from(fields, actor=None, source=Source.FORM)
    record, _, _ = contact_point_consent_set(
        channel="email",
        value=value,
        purpose=purpose,
        status=ContactPointConsent.Status.OPTED_IN,
        evidence=evidence,
        expires_at=expires_at,
    )
    return record


@pytest.mark.django_db
def test_contact_point_sweep_history_rows_equal_what_the_single_row_path_writes():
    purpose, past = factories.purpose(), timezone.now() - timedelta(days=1)
    evidence = {"ip_address": "192.0.2.9", "user_agent": "UA/3", "requested_by": "customer"}
    by_save = opt_in("twin1@example.org", expires_at=past, purpose=purpose, **evidence)
    by_sweep = opt_in("twin2@example.org", expires_at=past, purpose=purpose, **evidence)
    before = timezone.now()
    for name, value in {**EXPIRED_STATE, "captured_at": timezone.now()}.items():
        setattr(by_save, name, value)
    stamp(by_save, source=Source.SYSTEM, reason="expired")
    by_save.save()

    assert contact_point_consents_expire() == 1
    assert contact_point_consents_expire() == 0

    def latest(pk) -> dict:
        return ContactPointConsent.history.filter(id=pk).order_by("-history_id").values().first()

    differ = {"history_id", "history_date", "id", "value", "captured_at", "created_at"}
    saved, swept = latest(by_save.pk), latest(by_sweep.pk)
    assert {k: v for k, v in swept.items() if k not in differ} == {
        k: v for k, v in saved.items() if k not in differ
    }
    assert (swept["status"], swept["history_source"], swept["history_user_id"]) == (
        "not_set",
        "system",
        None,
    )
    assert before <= swept["history_date"] == swept["captured_at"] <= timezone.now()
    assert ContactPointConsent.history.filter(id=by_sweep.pk).count() == 2


@pytest.mark.django_db
def test_contact_point_sweep_walks_every_batch_once():
    purpose, past = factories.purpose(), timezone.now() - timedelta(days=1)
    for n in range(7):  # equal and different expires_at values across batch boundaries
        opt_in(f"p{n}@example.org", expires_at=past - timedelta(hours=n % 2), purpose=purpose)
    opt_in("later@example.org", expires_at=timezone.now() + timedelta(days=1), purpose=purpose)

    assert contact_point_consents_expire(batch_size=2) == 7

    assert ContactPointConsent.objects.filter(status="opted_in").count() == 1
    assert ContactPointConsent.history.filter(history_change_reason="expired").count() == 7


@pytest.mark.django_db
def test_contact_point_set_based_and_orm_paths_leave_the_same_rows(postgresql_only):
    purpose, past = factories.purpose(), timezone.now() - timedelta(days=1)
    for n in range(5):
        opt_in(f"p{n}@example.org", expires_at=past, purpose=purpose, ip_address="192.0.2.1")
    results = {}
    for set_based in (True, False):
        with pytest.raises(_Rollback), transaction.atomic():
            expired = contact_point_services._consents_expire(
                now=timezone.now(), batch_size=2, set_based=set_based
            )
            results[set_based] = (
                expired,
                rows(ContactPointConsent.objects.all(), without=VOLATILE | {"captured_at"}),
                history_rows(ContactPointConsent, without=VOLATILE | {"captured_at"}),
            )
            raise _Rollback
    assert results[True][0] == 5
    assert results[True] == results[False]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_contact_point_sweep_skips_an_opt_in_a_writer_holds(postgresql_only):
    purpose, past = factories.purpose(), timezone.now() - timedelta(days=1)
    held, free = (opt_in(f"{n}@example.org", expires_at=past, purpose=purpose) for n in "ab")
    results = {}

    def sweep():
        try:
            results["sweep"] = contact_point_consents_expire()
        finally:
            connection.close()

    with transaction.atomic():
        ContactPointConsent.objects.select_for_update().get(pk=held.pk)
        thread = threading.Thread(target=sweep)
        thread.start()
        thread.join(15)  # returns while the lock is held: the sweep never waits for it
        assert results == {"sweep": 1}

    assert ContactPointConsent.objects.get(pk=free.pk).status == "not_set"
    assert ContactPointConsent.objects.get(pk=held.pk).status == "opted_in"
    assert contact_point_consents_expire() == 1  # the next run takes it


def test_both_expiry_sweeps_batch_by_the_one_expiry_batch_size():
    sweeps = (data_consents_expire, contact_point_consents_expire)
    defaults = {inspect.signature(sweep).parameters["batch_size"].default for sweep in sweeps}
    assert defaults == {EXPIRY_BATCH_SIZE}
    definitions = [
        path.name
        for path in sorted((Path(__file__).parents[3] / "consent").rglob("*.py"))
        if "EXPIRY_BATCH_SIZE =" in path.read_text()
    ]
    assert definitions == ["contact_points.py"]
