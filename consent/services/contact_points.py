"""Writes on contact-point consent and suppressions (DESIGN §3.3; the erasure part of §3.1).

Every function is keyword-only, atomic and validates before it writes; every row it changes
leaves a history row with user, source and reason — the expiry sweep included. The only rows
that leave no trace are the ones erasure must remove (GDPR Art. 17).
"""

import hashlib
from collections.abc import Callable
from datetime import datetime

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, connection, models, transaction
from django.utils import timezone

from common.audit import (
    Evidence,
    Source,
    history_attrs,
    history_insert_sql,
    history_mark,
    history_params,
    sealed_atomic,
    stamp,
)
from consent.addresses import address_hash, field_error, normalize_address, normalized_address_hash
from consent.models import (
    ContactPointConsent,
    Purpose,
    Suppression,
    Topic,
)
from consent.webhooks.events import (
    contact_point_consent_changed,
    contact_points_changed,
    suppression_created,
)

Status = ContactPointConsent.Status


BATCH_SIZE = 1000


# Rows per batch of both daily expiry sweeps (contact-point opt-ins here, data consents in
# consent.services, which imports this module): set-based, so fewer, larger statements.
EXPIRY_BATCH_SIZE = 5000


SUPPRESSED_MESSAGE = (
    "This address is suppressed: its owner was erased after opting out, so it cannot be "
    "opted in again unless a DPO removes the suppression."
)
SUPPRESSED_NO_OP_MESSAGE = (
    "This address is suppressed: its owner was erased after opting out, so nothing is recorded "
    "for it (it is already treated as opted out)."
)


# Fields a repeated set is compared on: the same status with the same evidence is a no-op.
EVIDENCE_FIELDS = (
    "status",
    "source",
    "reason",
    "reason_description",
    "requested_by",
    "captured_by_id",
    "ip_address",
    "user_agent",
    "notice_version",
    "expires_at",
)


# The state an expired opt-in is left in: the evidence now describes the system's change.
EXPIRED_STATE = {
    "status": Status.NOT_SET,
    "source": Source.SYSTEM,
    "reason": "expired",
    "reason_description": "",
    "requested_by": "",
    "captured_by": None,
    "ip_address": None,
    "user_agent": "",
}


def lock_address(channel: str, value: str) -> None:
    """Serialize writers of one address until the transaction ends (PostgreSQL advisory lock).

    An opt-in and the erasure of the same address must not interleave: otherwise an opt-in
    that checked the suppression before the erasure committed is written after it. SQLite
    serializes writing transactions by itself.
    """
    if connection.vendor != "postgresql":
        return
    digest = hashlib.sha256(f"{channel}:{normalized_address_hash(value)}".encode()).digest()
    key = int.from_bytes(digest[:8], "big", signed=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def _user_or_none(user):
    return user if user is not None and user.is_authenticated else None


def _locked_or_created(queryset, create: Callable[[], models.Model]) -> tuple[models.Model, bool]:
    """The row `queryset` matches, locked; else the one `create()` saves.

    A concurrent insert of the same row makes ours fail on the unique constraint: we then
    return theirs, so callers never see an IntegrityError and never make a second row.
    """
    locked = queryset.select_for_update().order_by("pk")  # no joins: FOR UPDATE needs none
    existing = locked.first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            return create(), True
    except IntegrityError:
        existing = locked.first()
        if existing is None:
            raise  # another constraint failed: not a race
        return existing, False


def _check_topic(purpose: Purpose, topic: Topic | None) -> None:
    if topic is not None and topic.purpose_id != purpose.pk:
        raise field_error("topic", "This topic belongs to another purpose.")


def _suppressed(channel: str, value: str) -> bool:
    return Suppression.objects.filter(
        channel=channel, value_hash=normalized_address_hash(value)
    ).exists()


def _refuse_suppressed_opt_in(channel: str, value: str, status: str) -> None:
    if status == Status.OPTED_IN and _suppressed(channel, value):
        raise field_error("value", SUPPRESSED_MESSAGE, code="suppressed")


def _evidence(record: ContactPointConsent) -> tuple:
    return tuple(getattr(record, name) for name in EVIDENCE_FIELDS)


def _validated(record: ContactPointConsent) -> ContactPointConsent:
    """Field errors before anything is written (choices, lengths, IP address)."""
    _check_topic(record.purpose, record.topic)
    # Foreign keys are checked above or by the database; validating them here costs queries.
    record.full_clean(
        exclude=["purpose", "topic", "captured_by"],
        validate_unique=False,
        validate_constraints=False,
    )
    _refuse_suppressed_opt_in(record.channel, record.value, record.status)
    return record


def _save_audited(record: ContactPointConsent, **history) -> ContactPointConsent:
    stamp(record, **history)
    record.save()
    return record


def _wanted(
    *,
    channel: str,
    value: str,
    purpose: Purpose,
    topic: Topic | None,
    status: str,
    evidence: Evidence,
    expires_at: datetime | None,
) -> ContactPointConsent:
    return ContactPointConsent(
        channel=channel,
        value=value,
        purpose=purpose,
        topic=topic,
        status=status,
        source=evidence.source,
        reason=evidence.reason,
        reason_description=evidence.description,
        requested_by=evidence.requested_by,
        captured_by=evidence.captured_by,
        captured_at=evidence.captured_at or timezone.now(),
        ip_address=evidence.ip_address or None,
        user_agent=evidence.user_agent,
        notice_version=(
            purpose.profile.notice_version
            if evidence.notice_version is None
            else evidence.notice_version
        ),
        expires_at=expires_at,
    )


def contact_point_consent_validate(
    *,
    channel: str,
    value: str,
    purpose: Purpose,
    topic: Topic | None = None,
    status: str,
    evidence: Evidence,
    expires_at: datetime | None = None,
) -> None:
    """Every check of contact_point_consent_set, without writing or locking anything. A form
    also hears about the no-op: any status for a suppressed address is a `suppressed` error."""
    value = normalize_address(channel, value)
    if status != Status.OPTED_IN and _suppressed(channel, value):
        raise field_error("value", SUPPRESSED_NO_OP_MESSAGE, code="suppressed")
    _validated(
        _wanted(
            channel=channel,
            value=value,
            purpose=purpose,
            topic=topic,
            status=status,
            evidence=evidence,
            expires_at=expires_at,
        )
    )


@sealed_atomic
def contact_point_consent_set(
    *,
    channel: str,
    value: str,
    purpose: Purpose,
    topic: Topic | None = None,
    status: str,
    evidence: Evidence,
    expires_at: datetime | None = None,
) -> tuple[ContactPointConsent | None, bool, bool]:
    """Record the status of an address for a purpose or topic: `(record, created, changed)`.

    There is one record per (channel, value, purpose, topic); a change updates it and the
    previous state stays in its history. The same status with the same evidence again changes
    nothing and writes no history row (`captured_at` counts only when given). Opting in a
    suppressed address is refused; any other status for it is a no-op answered with
    `(None, False, False)`: the address is never written again. `notice_version` defaults to
    the profile's.
    """
    value = normalize_address(channel, value)
    lock_address(channel, value)  # before the suppression check: erasure takes it too
    if status != Status.OPTED_IN and _suppressed(channel, value):
        # The owner was erased after opting out: storing this status would write the erased
        # address back in clear (a nightly CRM sync would undo the erasure). Nothing to do.
        return None, False, False
    wanted = _validated(
        _wanted(
            channel=channel,
            value=value,
            purpose=purpose,
            topic=topic,
            status=status,
            evidence=evidence,
            expires_at=expires_at,
        )
    )
    history = {
        "user": evidence.actor,
        "source": evidence.source,
        "reason": evidence.reason or f"set to {status}",
    }
    record, created = _locked_or_created(
        ContactPointConsent.objects.filter(
            channel=channel, value=wanted.value, purpose=purpose, topic=topic
        ),
        lambda: _save_audited(wanted, **history),
    )
    if created:
        contact_point_consent_changed(record)
        return record, True, True
    if _evidence(record) == _evidence(wanted) and evidence.captured_at in (
        None,
        record.captured_at,
    ):
        return record, False, False
    for name in (*EVIDENCE_FIELDS, "captured_at"):
        setattr(record, name, getattr(wanted, name))
    _save_audited(record, **history)
    contact_point_consent_changed(record)
    return record, False, True


def contact_point_consents_expire(
    *, now: datetime | None = None, batch_size: int = EXPIRY_BATCH_SIZE
) -> int:
    """The daily sweep: opt-ins whose `expires_at` has passed become `not_set` (source system).

    Set-based and idempotent: each batch locks, updates and writes the history of its rows in
    one statement on PostgreSQL (one UPDATE and one history insert elsewhere); rows locked by
    a concurrent writer or sweep are skipped, so each opt-in expires once.
    """
    set_based = connection.vendor == "postgresql"
    return _consents_expire(now=now or timezone.now(), batch_size=batch_size, set_based=set_based)


def _consents_expire(*, now: datetime, batch_size: int, set_based: bool) -> int:
    expired = 0
    if not set_based:
        while batch_count := _expire_batch(now=now, batch_size=batch_size):
            expired += batch_count
        return expired
    after = None
    while keys := _expire_batch_sql(now=now, after=after, batch_size=batch_size):
        expired += len(keys)
        after = max(keys)
    return expired


@sealed_atomic
def _expire_batch(*, now: datetime, batch_size: int) -> int:
    batch = list(
        ContactPointConsent.objects.due_for_expiry(now=now)
        .select_for_update(skip_locked=True)
        .order_by("pk")[:batch_size]
    )
    if not batch:
        return 0
    written_at = timezone.now()
    changes = {**EXPIRED_STATE, "captured_at": written_at, "updated_at": written_at}
    ContactPointConsent.objects.filter(pk__in=[record.pk for record in batch]).update(**changes)
    for record in batch:
        for name, value in changes.items():
            setattr(record, name, value)
    history_mark(ContactPointConsent)
    ContactPointConsent.history.bulk_history_create(
        batch,
        batch_size=batch_size,
        update=True,
        default_change_reason="expired",
        default_date=written_at,
        custom_historical_attrs=history_attrs(Source.SYSTEM),
    )
    contact_points_changed(batch)
    return len(batch)


@sealed_atomic
def _expire_batch_sql(*, now: datetime, after: tuple | None, batch_size: int) -> list[tuple]:
    """Expire the next due opt-ins after `after` = (expires_at, id) in that order; return the
    (expires_at, id) of each. Walking on from the last key, a skipped row is not read again."""
    qn = connection.ops.quote_name
    table = qn(ContactPointConsent._meta.db_table)
    state = {**EXPIRED_STATE, "captured_by_id": EXPIRED_STATE["captured_by"]}
    del state["captured_by"]
    assignments = ", ".join(f"{qn(name)} = %(set_{name})s" for name in state)
    after_clause = (
        "AND expires_at >= %(after_at)s AND (expires_at, id) > (%(after_at)s, %(after_id)s)"
        if after
        else ""
    )
    sql = f"""
        WITH due AS (
            SELECT id FROM {table}
            WHERE status = %(opted_in)s AND expires_at <= %(now)s {after_clause}
            ORDER BY expires_at, id
            LIMIT %(limit)s
            FOR UPDATE SKIP LOCKED
        ), expired AS (
            UPDATE {table} AS cpc
            SET {assignments}, captured_at = %(history_date)s, updated_at = %(history_date)s
            FROM due
            WHERE cpc.id = due.id
            RETURNING cpc.*
        )
        {history_insert_sql(ContactPointConsent, rows="expired", quote_name=qn)}
        RETURNING expires_at, id
    """
    params = {
        "opted_in": Status.OPTED_IN,
        "now": now,
        "limit": batch_size,
        "after_at": after[0] if after else None,
        "after_id": after[1] if after else None,
        **{f"set_{name}": value for name, value in state.items()},
        **history_params(now=timezone.now(), reason="expired", source=Source.SYSTEM),
    }
    history_mark(ContactPointConsent)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        keys = cursor.fetchall()
    if keys:  # one event per expired opt-in, one INSERT for the batch
        contact_points_changed(
            ContactPointConsent.objects.filter(pk__in=[pk for _, pk in keys]).order_by("pk")
        )
    return keys


def suppress(
    *, channel: str, value_hash: str, reason: str, user, source: str
) -> tuple[Suppression, bool]:
    def create() -> Suppression:
        suppression = Suppression(
            channel=channel, value_hash=value_hash, reason=reason, created_by=_user_or_none(user)
        )
        stamp(suppression, user=user, source=source, reason=reason or "suppressed")
        suppression.save()
        suppression_created(suppression)
        return suppression

    return _locked_or_created(
        Suppression.objects.filter(channel=channel, value_hash=value_hash), create
    )


@sealed_atomic
def suppression_add(
    *, channel: str, value: str, reason: str = "", user=None, source: str = Source.INTERNAL
) -> tuple[Suppression, bool]:
    """Suppress an address (idempotent): `(suppression, created)`. Only its hash is stored."""
    return suppress(
        channel=channel,
        value_hash=address_hash(channel, value),
        reason=reason,
        user=user,
        source=source,
    )


@sealed_atomic
def suppression_remove(
    *, channel: str, value: str, user, reason: str, source: str = Source.INTERNAL
) -> bool:
    """Explicitly allow an erased address to be opted in again; False if it was not suppressed.

    Needs `consent.unsuppress` and a reason: the deletion's history row (hash, who, why) is the
    PII-free audit record.
    """
    if user is None or not user.has_perm("consent.unsuppress"):
        raise PermissionDenied("Removing a suppression needs the consent.unsuppress permission.")
    if not reason.strip():
        raise field_error("reason", "Say why this address may be opted in again.", "required")
    suppression = (
        Suppression.objects.select_for_update()
        .filter(channel=channel, value_hash=address_hash(channel, value))
        .first()
    )
    if suppression is None:
        return False
    stamp(suppression, user=user, source=source, reason=reason)
    suppression.delete()
    return True
