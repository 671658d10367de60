"""Writes on data subjects that do not involve data consents.

Workflows that also touch consents (qualify with conversion, updates that recompute the
derived fields, anonymization) live in `consent.services`, which calls these.
"""

import copy
from datetime import date

from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.utils import timezone

from common.audit import Source, sealed_atomic, stamp
from subjects.lifecycle import transition_for
from subjects.models import (
    ANONYMIZED_NAME,
    PREFERENCE_FIELDS,
    Account,
    Contact,
    DataProtectionConsent,
    Lead,
    Subject,
)
from subjects.normalize import normalize_email, normalize_phone

# Manual DPO fields (DESIGN §3.1): changed only with `protection_permission`.
PROTECTION_FIELDS = ("restricted", "inherent_basis", "inherent_basis_note")
SUBJECT_EDITABLE_FIELDS = (
    "first_name",
    "last_name",
    "email",
    "phone",
    *PREFERENCE_FIELDS,
    *PROTECTION_FIELDS,
)
LEAD_EDITABLE_FIELDS = (*SUBJECT_EDITABLE_FIELDS, "company_name", "source")
CONTACT_EDITABLE_FIELDS = (*SUBJECT_EDITABLE_FIELDS, "account")


class SubjectReadOnlyError(ValidationError):
    pass


def editable_fields(model) -> tuple[str, ...]:
    return LEAD_EDITABLE_FIELDS if model is Lead else CONTACT_EDITABLE_FIELDS


def lock_for_write(subject: Subject) -> Subject:
    """Lock the subject's row and reload the instance from it (call inside a transaction).

    A write then starts from the committed state: an instance read before a concurrent
    anonymization or lifecycle change is refused instead of being saved over it (which would
    write the erased PII back), and writers of one subject take turns.
    """
    subject.refresh_from_db(from_queryset=type(subject).objects.select_for_update())
    return subject


def ensure_writable(subject: Subject) -> None:
    if subject.is_anonymized:
        raise SubjectReadOnlyError("This subject is anonymized and can never be changed.")
    if subject.is_read_only:
        state = subject.status if isinstance(subject, Lead) else subject.state
        raise SubjectReadOnlyError(
            f"This {subject.subject_type} is {state} and read-only; reactivate it first."
        )


def protection_permission(model: type[Subject]) -> str:
    """The permission to change PROTECTION_FIELDS (the DPO role has it)."""
    return f"subjects.restrict_{model._meta.model_name}"


class _System:
    """The application itself acting on no one's behalf (a job, a migration, test fixtures).

    Trusted internal callers that may set the DPO fields pass `user=SYSTEM`; the customers' own
    pages pass no user, as they must never set them. The audit trail records SYSTEM as no user
    (`stamp` keeps only authenticated users), exactly as a system write was recorded before.
    """

    is_authenticated = False  # never an account: `stamp` and the history write no user for it

    def __repr__(self) -> str:
        return "SYSTEM"


SYSTEM = _System()


def ensure_may_change_protection(subject: Subject, data: dict, user) -> None:
    """Only `SYSTEM` and users with `protection_permission` change the DPO fields.

    Fails closed: `user=None` (a caller that did not say who acts) is refused like any user
    without the permission — a field error, so a forgetful web path answers 400, never 500.
    Values equal to the current ones are not changes and always pass.
    """
    if user is SYSTEM or (user is not None and user.has_perm(protection_permission(type(subject)))):
        return
    errors = {
        name: ValidationError(
            "Only a data protection officer may change this field.", code="permission_denied"
        )
        for name in PROTECTION_FIELDS
        if name in data and data[name] != getattr(subject, name)
    }
    if errors:
        raise ValidationError(errors)


def subject_assign(subject: Subject, data: dict, *, user) -> None:
    """Set editable fields from `data`, normalizing addresses; field errors as a dict.

    `user` is the acting user, or `SYSTEM`; there is no default (see
    `ensure_may_change_protection`).
    """
    unknown = set(data) - set(editable_fields(type(subject)))
    if unknown:
        raise ValidationError(dict.fromkeys(sorted(unknown), "This field cannot be set."))
    ensure_may_change_protection(subject, data, user)
    for name, value in data.items():
        setattr(subject, name, value)
    errors = {}
    for name, normalize in (("email", normalize_email), ("phone", normalize_phone)):
        value = getattr(subject, name)
        if value in (None, ""):
            setattr(subject, name, None)
            continue
        try:
            setattr(subject, name, normalize(value))
        except ValidationError as exc:
            errors[name] = exc.messages
    if errors:
        raise ValidationError(errors)
    subject.full_clean(exclude=["email"])  # email already checked by email-validator


def derive_data_protection_consent(
    *, restricted: bool, inherent_basis: bool, active_count: int, total_count: int
) -> str:
    """DESIGN §3.1: first match wins."""
    if restricted:
        return DataProtectionConsent.RESTRICT
    if active_count:
        return DataProtectionConsent.EXPLICIT
    if inherent_basis:
        return DataProtectionConsent.INHERENT
    if total_count:
        return DataProtectionConsent.RESTRICT
    return DataProtectionConsent.NONE


def subject_apply_consent_summary(
    subject: Subject,
    *,
    level: int,
    max_expiry: date | None,
    active_count: int,
    total_count: int,
) -> bool:
    """Set the derived fields from a consent summary; True when anything changed.

    Becoming `restrict` switches every contact-method preference off.
    """
    before = (subject.consent_level, subject.max_expiry_date, subject.data_protection_consent)
    protection = derive_data_protection_consent(
        restricted=subject.restricted,
        inherent_basis=subject.inherent_basis,
        active_count=active_count,
        total_count=total_count,
    )
    becomes_restricted = (
        protection == DataProtectionConsent.RESTRICT
        and subject.data_protection_consent != DataProtectionConsent.RESTRICT
    )
    subject.consent_level = level
    subject.max_expiry_date = max_expiry
    subject.data_protection_consent = protection
    if becomes_restricted:
        for name in PREFERENCE_FIELDS:
            setattr(subject, name, False)
    return before != (level, max_expiry, protection)


def subject_validate(
    *, model: type[Subject], subject: Subject | None = None, data: dict, user
) -> None:
    """Every check subject_create (no `subject`) or subject_update runs, on a copy: nothing is
    written and `subject` is left as it is."""
    if subject is not None:
        ensure_writable(subject)
    subject_assign(copy.copy(subject) if subject is not None else model(), data, user=user)


def account_validate(*, account: Account, data: dict) -> None:
    """account_save's checks on a copy of `account` with `data` applied."""
    candidate = copy.copy(account)
    for name, value in data.items():
        setattr(candidate, name, value)
    candidate.full_clean()


@sealed_atomic
def subject_create(
    *, model: type[Subject], data: dict, user=None, source: str = Source.INTERNAL, reason: str = ""
) -> Subject:
    """A new subject; setting the DPO fields takes a DPO `user` or `user=SYSTEM`."""
    subject = model()
    subject_assign(subject, data, user=user)
    subject_apply_consent_summary(subject, level=0, max_expiry=None, active_count=0, total_count=0)
    stamp(subject, user=user, source=source, reason=reason or "created")
    subject.save()
    return subject


@sealed_atomic
def account_save(*, account: Account, user=None, source: str = Source.INTERNAL) -> Account:
    account.full_clean()
    stamp(account, user=user, source=source, reason="created" if account.pk is None else "edited")
    account.save()
    return account


@sealed_atomic
def account_delete(*, account: Account, user=None, source: str = Source.INTERNAL) -> None:
    """Delete an account no contact belongs to (it is not a person; its history stays)."""
    if account.contacts.exists():
        raise ValidationError(
            "This account still has contacts and cannot be deleted.", code="invalid_state"
        )
    stamp(account, user=user, source=source, reason="deleted")
    account.delete()


def _transition(
    subject: Subject,
    name: str,
    *,
    user,
    reason: str = "",
    source: str = Source.INTERNAL,
    also: dict | None = None,
):
    """Move the subject along the lifecycle table (`subjects.lifecycle`)."""
    lock_for_write(subject)
    if subject.is_anonymized:
        raise SubjectReadOnlyError("This subject is anonymized and can never be changed.")
    transition = transition_for(subject, name)
    current = getattr(subject, transition.field)
    if current not in transition.sources:
        raise ValidationError(
            f"Cannot {name} a {subject.subject_type} that is {current}.", code="invalid_state"
        )
    reason = reason or name
    setattr(subject, transition.field, transition.target)
    for name, value in (also or {}).items():
        setattr(subject, name, value)
    stamp(subject, user=user, source=source, reason=reason)
    subject.save()
    return subject


@sealed_atomic
def lead_disqualify(*, lead: Lead, user=None, source: str = Source.INTERNAL) -> Lead:
    return _transition(lead, "disqualify", user=user, source=source)


@sealed_atomic
def lead_reactivate(*, lead: Lead, user=None, source: str = Source.INTERNAL) -> Lead:
    return _transition(lead, "reactivate", user=user, source=source)


@sealed_atomic
def contact_deactivate(*, contact: Contact, user=None, source: str = Source.INTERNAL) -> Contact:
    return _transition(contact, "deactivate", user=user, source=source)


@sealed_atomic
def contact_reactivate(*, contact: Contact, user=None, source: str = Source.INTERNAL) -> Contact:
    return _transition(contact, "reactivate", user=user, source=source)


def lead_mark_qualified(
    *, lead: Lead, contact: Contact | None, user=None, source: str = Source.INTERNAL
) -> Lead:
    """The lead's own half of qualification (consent.services.lead_qualify links consents)."""
    return _transition(
        lead,
        "qualify",
        user=user,
        source=source,
        reason="qualify and convert" if contact else "qualify",
        also={"converted_contact": contact} if contact else None,
    )


def contact_from_lead(*, lead: Lead, user=None, source: str = Source.INTERNAL) -> Contact:
    contact = Contact(
        first_name=lead.first_name,
        last_name=lead.last_name,
        email=lead.email,
        phone=lead.phone,
        restricted=lead.restricted,
        inherent_basis=lead.inherent_basis,
        inherent_basis_note=lead.inherent_basis_note,
        **{name: getattr(lead, name) for name in PREFERENCE_FIELDS},
    )
    stamp(contact, user=user, source=source, reason=f"converted from lead {lead.pk}")
    contact.save()
    return contact


def subject_scrub(*, subject: Subject, user=None, source: str = Source.INTERNAL) -> None:
    """Remove the subject's PII from its row, its history rows and the admin log (Art. 17)."""
    scrubbed = {
        "first_name": ANONYMIZED_NAME,
        "last_name": ANONYMIZED_NAME,
        "email": None,
        "phone": None,
    }
    if isinstance(subject, Lead):
        scrubbed["company_name"] = ""
    for name, value in scrubbed.items():
        setattr(subject, name, value)
    subject.anonymized_at = timezone.now()
    stamp(subject, user=user, source=source, reason="anonymized")
    subject.save()
    type(subject).history.filter(id=subject.pk).update(**scrubbed)
    LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(subject), object_id=str(subject.pk)
    ).update(object_repr=ANONYMIZED_NAME, change_message="")
