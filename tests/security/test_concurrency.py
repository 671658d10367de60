"""Concurrent writes lose nothing and never write after an erasure (PostgreSQL, real threads).

Each test starts its threads together on a barrier; every thread has its own connection.
"""

from itertools import pairwise

import pytest
from django.core.exceptions import ValidationError

from common.audit import Evidence
from consent.models import ContactPointConsent, DataConsent, ErasureRecord
from consent.services.contact_points import contact_point_consent_set
from consent.services.data_consents import (
    data_consent_cancel,
    data_consent_create,
    data_consent_reactivate,
    data_consent_update,
)
from consent.services.erasure import subject_anonymize
from consent.services.subjects import subject_update
from subjects.models import Contact
from subjects.services import SubjectReadOnlyError
from tests import factories
from tests.dbdump import database_text
from tests.security.conftest import run_together

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

OPTED_IN = ContactPointConsent.Status.OPTED_IN
OPTED_OUT = ContactPointConsent.Status.OPTED_OUT
THREADS = 32
CALLS = 50
ADDRESS = "race@example.org"


def _ordered_history(queryset):
    return list(queryset.order_by("history_date", "history_id"))


def test_concurrent_sets_of_one_contact_point_keep_one_row_and_every_change(postgresql_only):
    purpose = factories.purpose()

    def work(n: int) -> int:
        changed = 0
        for i in range(CALLS):
            _, _, was_changed = contact_point_consent_set(
                channel="email",
                value=ADDRESS,
                purpose=purpose,
                status=OPTED_IN if (n + i) % 2 == 0 else OPTED_OUT,
                evidence=Evidence(source="api", reason=f"thread {n} call {i}"),
            )
            changed += was_changed
        return changed

    results = run_together(THREADS, work)

    errors = [r for r in results if isinstance(r, Exception)]
    assert errors == []
    assert ContactPointConsent.objects.count() == 1
    record = ContactPointConsent.objects.get()
    history = _ordered_history(ContactPointConsent.history.filter(id=record.pk))
    assert len(history) == sum(results) == THREADS * CALLS  # every call was a real change
    # The row is the last committed write; the history's order is the commit order.
    assert [h.history_id for h in history] == sorted(h.history_id for h in history)
    last = history[-1]
    assert (record.status, record.reason) == (last.status, last.reason)


def test_concurrent_cancel_and_reactivate_keep_state_and_history_consistent(
    postgresql_only, contact, policy
):
    consent = factories.consent(subject=contact, policy_obj=policy, note="race")
    rounds = 8

    def work(n: int) -> int:
        done = 0
        for i in range(rounds):
            service = data_consent_cancel if (n + i) % 2 == 0 else data_consent_reactivate
            try:
                service(consent=consent, note=f"thread {n} round {i}")
                done += 1
            except ValidationError as exc:
                assert exc.code == "invalid_state", exc  # lost the race: a clean refusal
        return done

    results = run_together(THREADS, work)

    errors = [r for r in results if isinstance(r, Exception)]
    assert errors == []
    history = _ordered_history(DataConsent.history.filter(id=consent.pk))
    assert len(history) == 1 + sum(results)
    states = [h.state for h in history]
    assert all(a != b for a, b in pairwise(states)), states  # alternates
    consent.refresh_from_db()
    assert (consent.state, consent.status_reason) == (history[-1].state, history[-1].status_reason)
    contact.refresh_from_db()
    active = consent.state == DataConsent.State.ACTIVE
    assert contact.consent_level == (policy.consent_level if active else 0)
    assert contact.data_protection_consent == ("explicit" if active else "restrict")


def test_an_update_racing_an_anonymization_never_writes_after_it(postgresql_only, policy):
    contact = factories.contact(
        first_name="Philomena",
        last_name="Racewright",
        email="philomena.racewright@racing.example",
        phone="+31611223344",
    )
    factories.consent(subject=contact, policy_obj=policy, note="Philomena by phone")
    stale = Contact.objects.get(pk=contact.pk)  # loaded before the race, as a form would be
    anonymizers, updates = 2, 6

    def work(n: int):
        if n < anonymizers:
            try:
                return subject_anonymize(subject=stale)
            except ValidationError as exc:
                return exc.code
        outcomes = []
        for i in range(updates):
            try:
                subject_update(
                    subject=Contact.objects.get(pk=contact.pk) if i % 2 else stale,
                    data={
                        "first_name": f"Updatedname{n}x{i}",
                        "email": f"updated{n}x{i}@racing.example",
                        "phone": f"+3161{n:03d}{i:04d}",
                    },
                )
                outcomes.append("updated")
            except SubjectReadOnlyError:
                outcomes.append("refused")
        return outcomes

    results = run_together(8, work)

    errors = [r for r in results if isinstance(r, Exception)]
    assert errors == []
    assert sorted(map(str, results[:anonymizers])) == sorted(
        [str(ErasureRecord.objects.get()), "anonymized"]
    )
    contact.refresh_from_db()
    assert contact.anonymized_at is not None
    assert (contact.first_name, contact.last_name, contact.email, contact.phone) == (
        "Anonymized",
        "Anonymized",
        None,
        None,
    )
    history = _ordered_history(Contact.history.filter(id=contact.pk))
    erased_at = next(h.history_date for h in history if h.anonymized_at is not None)
    late_edits = [h for h in history if h.history_date > erased_at and h.anonymized_at is None]
    assert late_edits == []
    assert all(
        (h.first_name, h.last_name, h.email, h.phone) == ("Anonymized", "Anonymized", None, None)
        for h in history
    )
    dump = database_text()
    for secret in ("philomena", "racewright", "racing.example", "updatedname", "611223344"):
        assert secret not in dump, secret


def test_concurrent_changes_of_one_subjects_consents_keep_its_derived_fields_exact(
    postgresql_only, contact
):
    levels = [1, 2, 3, 4, 5, 2, 3, 1]
    policies = [factories.policy(consent_level=level) for level in levels]
    consents = [factories.consent(subject=contact, policy_obj=p) for p in policies]
    added = [factories.policy(consent_level=level) for level in levels]

    def work(n: int):
        if n < len(consents):
            return data_consent_cancel(consent=consents[n])
        return data_consent_create(
            policy=added[n - len(consents)], contact=contact, evidence=Evidence(source="internal")
        )

    results = run_together(2 * len(levels), work)

    assert [r for r in results if isinstance(r, Exception)] == []
    contact.refresh_from_db()
    # Every cancel and every new consent is counted: the summary is not a stale snapshot.
    assert contact.consent_level == max(levels)
    assert contact.data_protection_consent == "explicit"


def test_consent_writes_racing_an_anonymization_neither_crash_nor_outlive_it(
    postgresql_only, policy
):
    contact = factories.contact(
        first_name="Octavia", last_name="Lockorder", email="octavia@deadlock.example"
    )
    consents = [factories.consent(subject=contact, policy_obj=policy) for _ in range(6)]
    for consent in consents[::2]:
        data_consent_cancel(consent=consent)
    stale = [DataConsent.objects.get(pk=c.pk) for c in consents]
    refusals = (ValidationError,)  # SubjectReadOnlyError is one

    def work(n: int):
        if n == 0:
            return subject_anonymize(subject=contact)
        consent = stale[(n - 1) % len(stale)]
        try:
            if n % 3 == 0:
                data_consent_update(consent=consent, data={"note": f"Octavia called, thread {n}"})
            elif consent.state == DataConsent.State.ACTIVE:
                data_consent_cancel(consent=consent, note=f"Octavia {n}")
            else:
                data_consent_reactivate(consent=consent, note=f"Octavia {n}")
        except refusals:
            return "refused"
        return "done"

    results = run_together(13, work)

    assert [r for r in results if isinstance(r, Exception) and not isinstance(r, refusals)] == []
    assert isinstance(results[0], ErasureRecord)
    assert set(
        DataConsent.objects.filter(contact=contact).values_list("state", "status_reason", "note")
    ) == {("inactive", "anonymized", "")}
    dump = database_text()
    for secret in ("octavia", "lockorder", "deadlock.example"):
        assert secret not in dump, secret


def test_an_opt_in_racing_the_erasure_of_its_address_does_not_survive_it(postgresql_only):
    address = "Ursula.Racer@Optin-Race.example"
    contact = factories.contact(first_name="Ursula", last_name="Optinrace", email=address)
    profile = factories.compliance_profile()
    purposes = [factories.purpose(profile=profile) for _ in range(8)]
    factories.cp_consent(value=address, purpose_obj=purposes[0], status=OPTED_OUT)

    def work(n: int):
        if n == 0:
            return subject_anonymize(subject=contact)
        outcomes = []
        for purpose in purposes[1:]:
            try:
                contact_point_consent_set(
                    channel="email",
                    value=address,
                    purpose=purpose,
                    status=OPTED_IN,
                    evidence=Evidence(source="form", reason=f"thread {n}"),
                )
                outcomes.append("opted in")
            except ValidationError as exc:
                assert exc.error_dict["value"][0].code == "suppressed", exc
                outcomes.append("suppressed")
        return outcomes

    results = run_together(8, work)

    assert [r for r in results if isinstance(r, Exception)] == []
    # Erased, opted out before: no record of the address may survive, let alone an opt-in.
    assert not ContactPointConsent.objects.filter(channel="email").exists()
    assert "optin-race.example" not in database_text()
