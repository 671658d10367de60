"""Writes on data consents (DESIGN §3.2): create, edit, cancel, reactivate, and the daily expiry.

Every function is keyword-only, atomic, validates before it writes, and leaves a history row
with user, source and reason for each row it changes, bulk paths included.
"""

import copy
from dataclasses import dataclass
from datetime import date, timedelta

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from common.audit import (
    Evidence,
    Source,
    history_attrs,
    history_insert_sql,
    history_mark,
    history_params,
    history_seal,
    sealed_atomic,
    stamp,
)
from consent.models import ConsentLevelSubstatus, DataConsent, DataPolicy
from consent.services.contact_points import EXPIRY_BATCH_SIZE
from consent.services.summaries import refresh_subjects_of, subjects_recompute_sql
from consent.webhooks.events import data_consents_changed
from subjects import services as subject_services
from subjects.models import (
    Contact,
    Lead,
)

CONSENT_EDITABLE_FIELDS = (
    "substatus",
    "valid_until",
    "confidential",
    "owner_user",
    "owner_team",
    "note",
)


CONFIDENTIAL_OWNER_REQUIRED = "A confidential consent needs a specific owner user or team."


BATCH_SIZE = 1000


EXPIRY_WINDOW = 100_000  # due consents read at once, then expired in id order


EXPIRY_MAX_PASSES = 3  # a pass only repeats for consents changed while it ran


EXPIRED_REASON = "expired"


EXPIRED_SUBJECT_REASON = "data consent expired"


GIVEN_AT_CLOCK_SKEW = timedelta(days=1)  # evidence cannot come from the future


def _check_owner_and_substatus(consent: DataConsent) -> None:
    errors = {}
    if consent.confidential and not (consent.owner_user_id or consent.owner_team_id):
        errors["owner_user"] = CONFIDENTIAL_OWNER_REQUIRED
    if consent.substatus_id and consent.substatus.level != consent.consent_level:
        errors["substatus"] = "The substatus must belong to the consent's level."
    if consent.valid_until and consent.valid_until < consent.given_at.date():
        errors["valid_until"] = "A consent cannot expire before it was given."
    if errors:
        raise ValidationError(errors)


def data_consent_create_validate(
    *,
    policy: DataPolicy,
    lead: Lead | None = None,
    contact: Contact | None = None,
    given_at=None,
    valid_until: date | None = None,
    substatus: ConsentLevelSubstatus | None = None,
    confidential: bool = False,
    owner_user=None,
    owner_team=None,
    evidence: Evidence,
) -> DataConsent:
    """Every check of data_consent_create; returns the consent it would save (unsaved)."""
    if lead is None and contact is None:
        raise ValidationError({"contact": "A data consent needs a lead or a contact."})
    for subject in (lead, contact):
        if subject is not None:
            subject_services.ensure_writable(subject)
    if not policy.active:
        raise ValidationError({"policy": "This data policy is no longer active."})
    given_at = given_at or timezone.now()
    if given_at > timezone.now() + GIVEN_AT_CLOCK_SKEW:
        raise ValidationError({"given_at": "A consent cannot be given in the future."})
    captured_by = evidence.captured_by
    consent = DataConsent(
        lead=lead,
        contact=contact,
        policy=policy,
        consent_level=policy.consent_level,
        substatus=substatus,
        given_at=given_at,
        valid_until=valid_until or policy.default_valid_until(given_at),
        confidential=confidential,
        owner_user=owner_user if (owner_user or confidential) else captured_by,
        owner_team=owner_team,
        source=evidence.source,
        note=evidence.description,
        captured_by=captured_by,
        ip_address=evidence.ip_address or None,
        user_agent=evidence.user_agent,
        notice_version=(
            policy.notice_version if evidence.notice_version is None else evidence.notice_version
        ),
    )
    _check_owner_and_substatus(consent)
    consent.full_clean()
    return consent


@sealed_atomic
def data_consent_create(
    *,
    policy: DataPolicy,
    lead: Lead | None = None,
    contact: Contact | None = None,
    given_at=None,
    valid_until: date | None = None,
    substatus: ConsentLevelSubstatus | None = None,
    confidential: bool = False,
    owner_user=None,
    owner_team=None,
    evidence: Evidence,
) -> DataConsent:
    """A new consent, validated by data_consent_create_validate once its subjects are locked."""
    for subject in (lead, contact):
        if subject is not None:
            subject_services.lock_for_write(subject)  # its summary then counts every consent
    consent = data_consent_create_validate(
        policy=policy,
        lead=lead,
        contact=contact,
        given_at=given_at,
        valid_until=valid_until,
        substatus=substatus,
        confidential=confidential,
        owner_user=owner_user,
        owner_team=owner_team,
        evidence=evidence,
    )
    user, source = evidence.actor, evidence.source
    stamp(consent, user=user, source=source, reason=evidence.description or "consent given")
    consent.save()
    refresh_subjects_of([consent], user=user, source=source, reason="data consent added")
    data_consents_changed([consent], action="created")
    return consent


def _lock_for_write(consent: DataConsent) -> DataConsent:
    """Lock the consent's subjects, then the consent, and reload the consent.

    Subjects first, in the order subject_anonymize and data_consent_create lock them, so
    writers never deadlock; the subjects' derived fields are then recomputed by one writer at
    a time from the committed state of all their consents, and a stale instance is never
    saved over a newer state (an anonymization included).
    """
    links = DataConsent.objects.filter(pk=consent.pk).values("lead_id", "contact_id").get()
    for model, pk in ((Lead, links["lead_id"]), (Contact, links["contact_id"])):
        if pk is not None:
            list(model.objects.select_for_update().filter(pk=pk).values_list("pk"))
    consent.refresh_from_db(from_queryset=DataConsent.objects.select_for_update())
    return consent


def _assign_update(consent: DataConsent, data: dict) -> None:
    unknown = set(data) - set(CONSENT_EDITABLE_FIELDS)
    if unknown:
        raise ValidationError(dict.fromkeys(sorted(unknown), "This field cannot be changed."))
    if consent.status_reason in (DataConsent.Reason.EXPIRED, DataConsent.Reason.ANONYMIZED):
        raise ValidationError(
            f"An {consent.status_reason} consent can no longer be changed.", code="invalid_state"
        )
    becoming_confidential = data.get("confidential") and not consent.confidential
    for name, value in data.items():
        setattr(consent, name, value)
    if becoming_confidential and not ({"owner_user", "owner_team"} & set(data)):
        # Marking a consent confidential drops the owner it had; a specific one must be chosen.
        consent.owner_user = consent.owner_team = None
    _check_owner_and_substatus(consent)
    consent.full_clean()


def data_consent_update_validate(*, consent: DataConsent, data: dict) -> None:
    """Every check of data_consent_update, on a copy: `consent` is left as it is."""
    _assign_update(copy.copy(consent), data)


@sealed_atomic
def data_consent_update(
    *, consent: DataConsent, data: dict, user=None, source: str = Source.INTERNAL
) -> DataConsent:
    _lock_for_write(consent)
    _assign_update(consent, data)
    stamp(consent, user=user, source=source, reason="edited")
    consent.save()
    refresh_subjects_of([consent], user=user, source=source, reason="data consent edited")
    data_consents_changed([consent], action="edited")
    return consent


@sealed_atomic
def data_consent_cancel(
    *, consent: DataConsent, user=None, source: str = Source.INTERNAL, note: str = ""
) -> DataConsent:
    consent = _lock_for_write(consent)
    if not consent.is_active:
        raise ValidationError(
            f"Only an active consent can be cancelled; this one is {consent.status_reason}.",
            code="invalid_state",
        )
    consent.state = DataConsent.State.INACTIVE
    consent.status_reason = DataConsent.Reason.CANCELLED
    stamp(consent, user=user, source=source, reason=note or "cancelled")
    consent.save()
    refresh_subjects_of([consent], user=user, source=source, reason="data consent cancelled")
    data_consents_changed([consent], action="cancelled")
    return consent


def _owners(consent: DataConsent) -> list:
    """The subjects whose read-only rule governs the consent: a consent a converted (qualified,
    read-only) lead shares with its contact is the contact's, and only the contact decides."""
    if consent.contact_id is not None:
        return [consent.contact]
    return [subject for subject in consent.subjects if subject is not None]


@sealed_atomic
def data_consent_reactivate(
    *, consent: DataConsent, user=None, source: str = Source.INTERNAL, note: str = ""
) -> DataConsent:
    consent = _lock_for_write(consent)
    if consent.status_reason != DataConsent.Reason.CANCELLED:
        raise ValidationError(
            "Only a cancelled consent can be reactivated; expired and anonymized consents are "
            f"final (this one is {consent.status_reason}).",
            code="invalid_state",
        )
    if consent.valid_until and consent.valid_until < timezone.localdate():
        raise ValidationError(
            f"This consent expired on {consent.valid_until:%Y-%m-%d} and cannot be reactivated.",
            code="expired",
        )
    for subject in _owners(consent):
        subject_services.ensure_writable(subject)
    consent.state = DataConsent.State.ACTIVE
    consent.status_reason = DataConsent.Reason.ACTIVE
    stamp(consent, user=user, source=source, reason=note or "reactivated")
    consent.save()
    refresh_subjects_of([consent], user=user, source=source, reason="data consent reactivated")
    data_consents_changed([consent], action="reactivated")
    return consent


def data_consents_expire(*, today: date | None = None, batch_size: int = EXPIRY_BATCH_SIZE) -> int:
    """The daily sweep: active consents past `valid_until` become inactive / `expired`.

    Batches walk the due consents in (valid_until, id) order, each batch in its own
    transaction: lock its subjects (leads, then contacts, by id) before its consents — the
    order of the interactive writers, so the sweep cannot deadlock with them — expire the
    consents that are still due with one history row each (source system, reason "expired"),
    then recompute the subjects' derived fields. On PostgreSQL each step is one set-based
    statement; other databases take the ORM path, with the same result. Idempotent: a
    consent expires once, and a second run changes nothing.
    """
    set_based = connection.vendor == "postgresql"
    return _consents_expire(
        today=today or timezone.localdate(), batch_size=batch_size, set_based=set_based
    )


def _consents_expire(*, today: date, batch_size: int, set_based: bool) -> int:
    expire_batch = _expire_batch_sql if set_based else _expire_batch_orm
    expired = 0
    for _ in range(EXPIRY_MAX_PASSES):
        after, complete = None, True
        while True:
            due = _due_for_expiry(today=today, after=after, limit=EXPIRY_WINDOW)
            if due:
                after = (due[-1].valid_until, due[-1].pk)
            # In id order, each batch changes neighbouring rows, not pages all over the table.
            due.sort(key=lambda d: d.pk)
            for start in range(0, len(due), batch_size):
                batch = due[start : start + batch_size]
                with transaction.atomic():
                    count = expire_batch(batch, today=today, now=timezone.now())
                    history_seal()
                expired += count
                # A consent changed between the read and the locks (cancelled, relinked to
                # another subject) is left alone; another pass picks it up if still due.
                complete = complete and count == len(batch)
            if len(due) < EXPIRY_WINDOW:
                break
        if complete:
            break
    return expired


@dataclass(frozen=True)
class _Due:
    pk: int
    valid_until: date
    lead_id: int | None
    contact_id: int | None


def _due_for_expiry(*, today: date, after: tuple | None, limit: int) -> list[_Due]:
    """The next due consents after `after` = (valid_until, id), read without locks."""
    due = DataConsent.objects.due_for_expiry(today=today)
    if after is not None:
        valid_until, pk = after
        due = due.filter(valid_until__gte=valid_until).exclude(valid_until=valid_until, pk__lte=pk)
    rows = due.order_by("valid_until", "pk").values_list(
        "pk", "valid_until", "lead_id", "contact_id"
    )
    return [_Due(*row) for row in rows[:limit]]


def _lock_subjects_of(due: list[_Due]) -> None:
    """Lock the subjects of `due`: leads, then contacts, each in id order.

    Interactive writers lock a consent's lead, then its contact, then the consent
    (`_lock_for_write`, `data_consent_create`); taking every subject before any consent keeps
    the sweep in that order.
    """
    for model, ids in ((Lead, {d.lead_id for d in due}), (Contact, {d.contact_id for d in due})):
        ids = sorted(ids - {None})
        if ids:
            locked = model.objects.filter(pk__in=ids).order_by("pk")
            list(locked.select_for_update(no_key=True).values_list("pk", flat=True))


def _expire_batch_orm(due: list[_Due], *, today: date, now) -> int:
    _lock_subjects_of(due)
    links = {d.pk: (d.lead_id, d.contact_id) for d in due}
    batch = [
        consent
        for consent in DataConsent.objects.due_for_expiry(today=today)
        .filter(pk__in=list(links))
        .select_for_update()
        .order_by("pk")
        if links[consent.pk] == (consent.lead_id, consent.contact_id)
    ]
    if not batch:
        return 0
    DataConsent.objects.filter(pk__in=[c.pk for c in batch]).update(
        state=DataConsent.State.INACTIVE, status_reason=DataConsent.Reason.EXPIRED, updated_at=now
    )
    for consent in batch:
        consent.state = DataConsent.State.INACTIVE
        consent.status_reason = DataConsent.Reason.EXPIRED
        consent.updated_at = now
    history_mark(DataConsent)
    DataConsent.history.bulk_history_create(
        batch,
        batch_size=BATCH_SIZE,
        update=True,
        default_change_reason=EXPIRED_REASON,
        default_date=now,
        custom_historical_attrs=history_attrs(Source.SYSTEM),
    )
    refresh_subjects_of(batch, source=Source.SYSTEM, reason=EXPIRED_SUBJECT_REASON)
    data_consents_changed(batch, action=EXPIRED_REASON)
    return len(batch)


def _expire_batch_sql(due: list[_Due], *, today: date, now) -> int:
    _lock_subjects_of(due)
    params = {
        "ids": [d.pk for d in due],
        "leads": [d.lead_id for d in due],
        "contacts": [d.contact_id for d in due],
        "today": today,
        "active": DataConsent.State.ACTIVE,
        "inactive": DataConsent.State.INACTIVE,
        "expired": DataConsent.Reason.EXPIRED,
        **history_params(now=now, reason=EXPIRED_REASON, source=Source.SYSTEM),
    }
    history_mark(DataConsent)
    with connection.cursor() as cursor:
        cursor.execute(_expire_sql(), params)
        subjects = cursor.fetchall()
    if subjects:  # one event per expired consent, one INSERT for the batch
        expired = DataConsent.objects.filter(pk__in=[row[2] for row in subjects]).order_by("pk")
        data_consents_changed(expired, action=EXPIRED_REASON)
    for model, index in ((Lead, 0), (Contact, 1)):
        ids = sorted({row[index] for row in subjects} - {None})
        if ids:
            subjects_recompute_sql(model=model, ids=ids, now=now, reason=EXPIRED_SUBJECT_REASON)
    return len(subjects)


def _expire_sql() -> str:
    """Expire the still-due consents of the batch whose subjects are the ones locked; one
    history row each; return their (lead_id, contact_id, id)."""
    qn = connection.ops.quote_name
    table = qn(DataConsent._meta.db_table)
    return f"""
        WITH expired AS (
            UPDATE {table} AS dc
            SET state = %(inactive)s, status_reason = %(expired)s, updated_at = %(history_date)s
            FROM unnest(%(ids)s::bigint[], %(leads)s::bigint[], %(contacts)s::bigint[])
                AS due (id, lead_id, contact_id)
            WHERE dc.id = due.id
              AND dc.id = ANY(%(ids)s)
              AND dc.state = %(active)s
              AND dc.valid_until < %(today)s
              AND dc.lead_id IS NOT DISTINCT FROM due.lead_id
              AND dc.contact_id IS NOT DISTINCT FROM due.contact_id
            RETURNING dc.*
        )
        {history_insert_sql(DataConsent, rows="expired", quote_name=qn)}
        RETURNING lead_id, contact_id, id
    """
