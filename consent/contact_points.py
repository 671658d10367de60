"""Writes on contact-point consent and suppressions (DESIGN §3.3; the erasure part of §3.1).

Every function is keyword-only, atomic and validates before it writes; every row it changes
leaves a history row with user, source and reason — the expiry sweep included. The only rows
that leave no trace are the ones erasure must remove (GDPR Art. 17).
"""

import hashlib
import hmac
from collections import Counter
from collections.abc import Callable
from datetime import datetime

from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, models, transaction
from django.utils import timezone

from consent.models import (
    Channel,
    ComplianceProfile,
    ContactPointConsent,
    Purpose,
    Suppression,
    Topic,
)
from consent.models.contact_point import ADDRESS_MAX_LENGTH
from subjects.audit import (
    Source,
    delete_audited,
    history_attrs,
    history_insert_sql,
    history_params,
    stamp,
)
from subjects.models import ANONYMIZED_NAME, Contact, Lead
from subjects.normalize import normalize_email, normalize_phone

Status = ContactPointConsent.Status
BATCH_SIZE = 1000
# Rows per batch of both daily expiry sweeps (contact-point opt-ins here, data consents in
# consent.services, which imports this module): set-based, so fewer, larger statements.
EXPIRY_BATCH_SIZE = 5000
SUPPRESSED_MESSAGE = (
    "This address is suppressed: its owner was erased after opting out, so it cannot be "
    "opted in again unless a DPO removes the suppression."
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


# ---------------------------------------------------------------------------------------------
# Addresses


def normalize_address(channel: str, value: str) -> str:
    """The stored form of an address; field errors (`channel`, `value`) for invalid input.

    Emails are fully lower-cased (subjects keep the local part's case and are compared on
    `Lower("email")`), phone numbers become E.164, custom ids are stripped.
    """
    if not isinstance(channel, str) or channel not in _CHANNELS:
        raise field_error("channel", f"Unknown channel {channel!r}.")
    if not isinstance(value, str):
        raise field_error("value", "Enter the address as text.")
    try:
        return _NORMALIZERS[channel](value)
    except ValidationError as exc:
        raise ValidationError({"value": exc}) from exc


def field_error(field: str, message: str, code: str = "invalid") -> ValidationError:
    """A field-keyed error that keeps its code (API clients and tests branch on it)."""
    return ValidationError({field: ValidationError(message, code=code)})


def _normalize_custom(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValidationError("Enter an identifier.", code="required")
    if not value.isprintable():  # a NUL or control character no database column should hold
        raise ValidationError("Enter an identifier without control characters.", code="invalid")
    if len(value) > ADDRESS_MAX_LENGTH:
        raise ValidationError(f"At most {ADDRESS_MAX_LENGTH} characters.", code="max_length")
    return value


_CHANNELS = frozenset(Channel.values)
_NORMALIZERS: dict[str, Callable[[str], str]] = {
    Channel.EMAIL: lambda value: normalize_email(value).lower(),
    Channel.SMS: normalize_phone,
    Channel.VOICE: normalize_phone,
    Channel.CUSTOM: _normalize_custom,
}


def normalized_address_hash(value: str) -> str:
    """HMAC-SHA256 (hex) of an already normalized address, keyed with its own secret."""
    return hmac.digest(settings.SUPPRESSION_HASH_KEY.encode(), value.encode(), "sha256").hex()


def address_hasher() -> Callable[[str], str]:
    """`normalized_address_hash` for many addresses (audiences, bulk checks, loads): the same
    HMAC-SHA256 (RFC 2104) with the keyed inner and outer states computed once and copied per
    address instead of re-derived from the key on every call — about 3× faster."""
    key = settings.SUPPRESSION_HASH_KEY.encode()
    block = hashlib.sha256().block_size
    if len(key) > block:
        key = hashlib.sha256(key).digest()
    key = key.ljust(block, b"\0")
    inner = hashlib.sha256(bytes(byte ^ 0x36 for byte in key))
    outer = hashlib.sha256(bytes(byte ^ 0x5C for byte in key))

    def address_hash(value: str) -> str:
        digest = inner.copy()
        digest.update(value.encode())
        result = outer.copy()
        result.update(digest.digest())
        return result.hexdigest()

    return address_hash


def address_hash(channel: str, value: str) -> str:
    return normalized_address_hash(normalize_address(channel, value))


def is_suppressed(channel: str, value: str) -> bool:
    return Suppression.objects.filter(
        channel=channel, value_hash=address_hash(channel, value)
    ).exists()


# ---------------------------------------------------------------------------------------------
# Contact-point consent


def _lock_address(channel: str, value: str) -> None:
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


def _refuse_suppressed_opt_in(channel: str, value: str, status: str) -> None:
    if status != Status.OPTED_IN:
        return
    suppressed = Suppression.objects.filter(
        channel=channel, value_hash=normalized_address_hash(value)
    ).exists()
    if suppressed:
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


@transaction.atomic
def contact_point_consent_set(
    *,
    channel: str,
    value: str,
    purpose: Purpose,
    topic: Topic | None = None,
    status: str,
    source: str,
    reason: str = "",
    reason_description: str = "",
    requested_by: str = "",
    user=None,
    ip_address: str | None = None,
    user_agent: str = "",
    notice_version: str | None = None,
    captured_at: datetime | None = None,
    expires_at: datetime | None = None,
) -> tuple[ContactPointConsent, bool, bool]:
    """Record the status of an address for a purpose or topic: `(record, created, changed)`.

    There is one record per (channel, value, purpose, topic); a change updates it and the
    previous state stays in its history. The same status with the same evidence again changes
    nothing and writes no history row (`captured_at` counts only when given). Opting in a
    suppressed address is refused. `notice_version` defaults to the profile's.
    """
    value = normalize_address(channel, value)
    _lock_address(channel, value)  # before the suppression check: erasure takes it too
    wanted = _validated(
        ContactPointConsent(
            channel=channel,
            value=value,
            purpose=purpose,
            topic=topic,
            status=status,
            source=source,
            reason=reason,
            reason_description=reason_description,
            requested_by=requested_by,
            captured_by=_user_or_none(user),
            captured_at=captured_at or timezone.now(),
            ip_address=ip_address or None,
            user_agent=user_agent,
            notice_version=(
                purpose.profile.notice_version if notice_version is None else notice_version
            ),
            expires_at=expires_at,
        )
    )
    history = {"user": user, "source": source, "reason": reason or f"set to {status}"}
    record, created = _locked_or_created(
        ContactPointConsent.objects.filter(
            channel=channel, value=wanted.value, purpose=purpose, topic=topic
        ),
        lambda: _save_audited(wanted, **history),
    )
    if created:
        return record, True, True
    if _evidence(record) == _evidence(wanted) and captured_at in (None, record.captured_at):
        return record, False, False
    for name in (*EVIDENCE_FIELDS, "captured_at"):
        setattr(record, name, getattr(wanted, name))
    _save_audited(record, **history)
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


@transaction.atomic
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
    ContactPointConsent.history.bulk_history_create(
        batch,
        batch_size=batch_size,
        update=True,
        default_change_reason="expired",
        default_date=written_at,
        custom_historical_attrs=history_attrs(Source.SYSTEM),
    )
    return len(batch)


@transaction.atomic
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
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


# ---------------------------------------------------------------------------------------------
# Suppressions


def _suppress(
    *, channel: str, value_hash: str, reason: str, user, source: str
) -> tuple[Suppression, bool]:
    def create() -> Suppression:
        suppression = Suppression(
            channel=channel, value_hash=value_hash, reason=reason, created_by=_user_or_none(user)
        )
        stamp(suppression, user=user, source=source, reason=reason or "suppressed")
        suppression.save()
        return suppression

    return _locked_or_created(
        Suppression.objects.filter(channel=channel, value_hash=value_hash), create
    )


@transaction.atomic
def suppression_add(
    *, channel: str, value: str, reason: str = "", user=None, source: str = Source.INTERNAL
) -> tuple[Suppression, bool]:
    """Suppress an address (idempotent): `(suppression, created)`. Only its hash is stored."""
    return _suppress(
        channel=channel,
        value_hash=address_hash(channel, value),
        reason=reason,
        user=user,
        source=source,
    )


@transaction.atomic
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


# ---------------------------------------------------------------------------------------------
# Erasure (called by consent.services.subject_anonymize)

# The contact-point channels a subject's address field is reachable on.
SUBJECT_ADDRESS_CHANNELS = {"email": (Channel.EMAIL,), "phone": (Channel.SMS, Channel.VOICE)}


def _stored_form(channel: str, value: str) -> str:
    # A legacy address that no longer validates must not stop an erasure: fall back to the
    # trimmed form (lower-cased for email, as contact points store it).
    try:
        return normalize_address(channel, value)
    except ValidationError:
        value = value.strip()
        return value.lower() if channel == Channel.EMAIL else value


def _still_used(field: str, value: str) -> bool:
    """Does a non-anonymized lead or contact still hold this email / phone?"""
    lookup = "with_email" if field == "email" else "with_phone"
    return any(
        getattr(model.objects.not_anonymized(), lookup)(value).exists() for model in (Lead, Contact)
    )


def _scrub_admin_log(record_ids: list[int]) -> None:
    # The admin log keeps each changed record's __str__, which names the address.
    LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(ContactPointConsent),
        object_id__in=[str(pk) for pk in record_ids],
    ).update(object_repr=ANONYMIZED_NAME, change_message="")


def _erase_address(*, channel: str, value: str, user, source: str) -> tuple[int, int]:
    """Delete an address's records and their history; an opt-out becomes a suppression first."""
    _lock_address(channel, value)
    records = ContactPointConsent.objects.for_address(channel, value)
    statuses = dict(records.values_list("pk", "status"))
    if not statuses:
        return 0, 0
    suppressed = False
    if Status.OPTED_OUT in statuses.values():
        _, suppressed = _suppress(
            channel=channel,
            value_hash=normalized_address_hash(value),
            reason="owner erased after opting out",
            user=user,
            source=source,
        )
    records.delete()
    # After the delete: simple-history has just written a deletion row naming the address too.
    ContactPointConsent.history.filter(channel=channel, value=value).delete()
    _scrub_admin_log(list(statuses))
    return len(statuses), int(suppressed)


def contact_points_erase_for(
    *, email: str | None, phone: str | None, user=None, source: str = Source.INTERNAL
) -> dict[str, int]:
    """Erase the contact-point consents of an anonymized subject's addresses (DESIGN §3.1).

    Call it once the subject itself is anonymized. An address another non-anonymized lead or
    contact still uses keeps its records. Otherwise its records and their history rows are
    deleted, and where one was an opt-out a suppression (keyed hash only) is created first, so
    a later import or form can never opt the address back in silently.
    """
    counts = Counter(
        contact_point_consents_deleted=0, suppressions_added=0, contact_point_addresses_kept=0
    )
    for field, value in (("email", email), ("phone", phone)):
        if not value:
            continue
        if _still_used(field, value):
            counts["contact_point_addresses_kept"] += 1
            continue
        for channel in SUBJECT_ADDRESS_CHANNELS[field]:
            deleted, suppressed = _erase_address(
                channel=channel, value=_stored_form(channel, value), user=user, source=source
            )
            counts["contact_point_consents_deleted"] += deleted
            counts["suppressions_added"] += suppressed
    return dict(counts)


# ---------------------------------------------------------------------------------------------
# Configuration: compliance profiles, purposes, topics (API and admin)


class ConfigurationConflict(ValidationError):
    """The configuration's current state forbids the change: still in use, the default profile,
    a concurrent default switch (409 in the API)."""


def configuration_save(instance: models.Model, data: dict, *, user, source: str) -> models.Model:
    """Apply `data`, validate the model, save it with who / how / why (purposes, topics)."""
    for name, value in data.items():
        setattr(instance, name, value)
    instance.full_clean()
    stamp(instance, user=user, source=source, reason="edited" if instance.pk else "created")
    instance.save()
    return instance


def _blocking_references(model, queryset, depth: int = 0) -> set[str]:
    """What still references the rows of `queryset` through a PROTECT foreign key — theirs or
    that of the rows a delete would cascade to. Existence queries only: a ProtectedError would
    first load every protecting row (millions of consent records) into memory."""
    blocking = set()
    for relation in model._meta.related_objects:
        related = relation.related_model._base_manager.filter(
            **{f"{relation.field.name}__in": queryset}
        )
        if relation.on_delete in (models.PROTECT, models.RESTRICT):
            if related.exists():
                blocking.add(str(relation.related_model._meta.verbose_name_plural))
        elif relation.on_delete is models.CASCADE and depth < 3:
            blocking |= _blocking_references(relation.related_model, related, depth + 1)
    return blocking


def configuration_delete_refusal(instance: models.Model, *, hint: str = "") -> str | None:
    """Why `instance` (a profile, purpose or topic) cannot be deleted, or None if it can."""
    if isinstance(instance, ComplianceProfile) and instance.is_default:
        return "This is the default compliance profile; make another profile the default first."
    blocking = _blocking_references(type(instance), type(instance).objects.filter(pk=instance.pk))
    if blocking:
        name = instance._meta.verbose_name
        return (
            f"This {name} is still used by {', '.join(sorted(blocking))}, so it cannot be "
            f"deleted.{' ' + hint if hint else ''}"
        )
    return None


@transaction.atomic
def configuration_delete(instance: models.Model, *, user, source: str, hint: str = "") -> None:
    """Delete a profile, purpose or topic nothing uses any more (with what cascades from it)."""
    refusal = configuration_delete_refusal(instance, hint=hint)
    if refusal:
        raise ConfigurationConflict(refusal)
    delete_audited(instance, user=user, source=source)


ONE_DEFAULT_MESSAGE = (
    "Exactly one compliance profile is the default: make another profile the default instead."
)


@transaction.atomic
def compliance_profile_save(
    profile: ComplianceProfile, data: dict, *, user, source: str
) -> ComplianceProfile:
    """Save a profile; making it the default switches the default atomically.

    Every profile row is locked first (a short table), so two requests that each make a
    different profile the default run one after the other and the later one wins; the old
    default is unset with its own history row. Unsetting the default itself is refused: there
    is always exactly one.
    """
    was_default = profile.pk is not None and profile.is_default
    if was_default and data.get("is_default") is False:
        raise ValidationError({"is_default": ONE_DEFAULT_MESSAGE})
    for name, value in data.items():
        setattr(profile, name, value)
    # The one-default constraint is this function's job; everything else is validated here.
    profile.full_clean(validate_constraints=False)
    if profile.is_default:
        list(ComplianceProfile.objects.select_for_update().order_by("pk").values_list("pk"))
        previous = ComplianceProfile.objects.filter(is_default=True).exclude(pk=profile.pk)
        for other in previous:
            other.is_default = False
            stamp(other, user=user, source=source, reason="no longer the default profile")
            other.save(update_fields=["is_default"])
    stamp(profile, user=user, source=source, reason="edited" if profile.pk else "created")
    try:
        with transaction.atomic():
            profile.save()
    except IntegrityError as exc:
        # Only a profile created as the default at the very same moment gets here.
        raise ConfigurationConflict(
            "Another compliance profile became the default at the same moment; try again."
        ) from exc
    return profile
