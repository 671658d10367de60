"""What a customer chooses on the public pages (DESIGN §3.6), written through the consent services.

The preference center, the sign-up and its confirmation, and the one-click unsubscribe all end
in `customer_choices_record`: one transaction that records each contact-point change through
`contact_point_consent_set` and, when the customer opted in and the profile names a data policy,
the matching subject-level data consent (`customer_opt_in_record`) — so the subject gate of the
decision (§3.4 rules 4–6) agrees with what the customer just chose.
"""

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from django.db.models import Q
from django.utils import timezone

from common.audit import Evidence, sealed_atomic
from consent.addresses import field_error, is_suppressed, normalize_address
from consent.models import (
    Channel,
    ComplianceProfile,
    ContactPointConsent,
    DataConsent,
    DataPolicy,
    Purpose,
    Topic,
)
from consent.services.contact_points import SUPPRESSED_MESSAGE, contact_point_consent_set
from consent.services.data_consents import data_consent_create
from subjects.models import Contact, Lead, Subject
from subjects.services import subject_create

logger = logging.getLogger(__name__)
Status = ContactPointConsent.Status
# The subject field an address of each channel is held in; custom channels have no subjects.
SUBJECT_FIELD = {Channel.EMAIL: "email", Channel.SMS: "phone", Channel.VOICE: "phone"}


@dataclass(frozen=True)
class Choice:
    """One status a customer chose: for a purpose (topic None) or one of its topics."""

    purpose: Purpose
    topic: Topic | None
    status: str


@dataclass
class CustomerResult:
    records: list[ContactPointConsent] = field(default_factory=list)
    changed: int = 0
    data_consents: list[DataConsent] = field(default_factory=list)
    lead: Lead | None = None


# ---------------------------------------------------------------------------------------------
# Reads


def subjects_holding(channel: str, value: str) -> list[Subject]:
    """Every non-anonymized lead and contact whose address for `channel` is `value`."""
    address_field = SUBJECT_FIELD.get(channel)
    if address_field is None:
        return []
    lookup = "with_email" if address_field == "email" else "with_phone"
    return [
        subject
        for model in (Lead, Contact)
        for subject in getattr(model.objects.not_anonymized(), lookup)(value).order_by("pk")
    ]


def address_known_in_profile(*, profile: ComplianceProfile, channel: str, value: str) -> bool:
    """Does the address hold any contact-point consent in the profile (`double_opt_in=new_only`)?"""
    return ContactPointConsent.objects.filter(
        channel=channel, value=value, purpose__profile=profile
    ).exists()


def address_known(*, profile: ComplianceProfile, channel: str, value: str) -> bool:
    """Is this an address we may mail a manage link to: not suppressed, and either in the
    profile's contact-point records or held by a non-anonymized subject?"""
    if is_suppressed(channel, value):
        return False
    return address_known_in_profile(profile=profile, channel=channel, value=value) or bool(
        subjects_holding(channel, value)
    )


def double_opt_in_required(*, profile: ComplianceProfile, channel: str, value: str) -> bool:
    """`always`; `new_only` for an address with no contact-point consent in the profile yet."""
    mode = profile.double_opt_in
    if mode == ComplianceProfile.DoubleOptIn.ALWAYS:
        return True
    if mode == ComplianceProfile.DoubleOptIn.NEW_ONLY:
        return not address_known_in_profile(profile=profile, channel=channel, value=value)
    return False


def unsubscribe_choices(
    *, profile: ComplianceProfile, purpose: Purpose | None, topic: Topic | None
) -> list[Choice]:
    """The opt-outs of an unsubscribe (one-click link or an ESP's unsubscribe event), per the
    profile's `unsubscribe_scope`. Without a known purpose (`None`), every commercial one."""
    scope = profile.unsubscribe_scope
    if purpose is None or scope == ComplianceProfile.UnsubscribeScope.ALL_COMMERCIAL:
        purposes = profile.purposes.filter(kind=Purpose.Kind.COMMERCIAL).order_by("pk")
        return [Choice(p, None, Status.OPTED_OUT) for p in purposes]
    if scope == ComplianceProfile.UnsubscribeScope.TOPIC and topic is not None:
        return [Choice(purpose, topic, Status.OPTED_OUT)]
    return [Choice(purpose, None, Status.OPTED_OUT)]


def _has_consent_at_level(subject: Subject, level: int, today: date) -> bool:
    return (
        DataConsent.objects.for_subject(subject)
        .active()
        .filter(consent_level__gte=level)
        .filter(Q(valid_until__isnull=True) | Q(valid_until__gte=today))
        .exists()
    )


# ---------------------------------------------------------------------------------------------
# Writes


@sealed_atomic
def customer_choices_record(
    *,
    profile: ComplianceProfile,
    channel: str,
    value: str,
    choices: Iterable[Choice],
    evidence: Evidence,
    create_lead: bool = False,
) -> CustomerResult:
    """Record a customer's own choices for one address, all or nothing.

    Each choice goes through `contact_point_consent_set` (one record per purpose / topic, history
    with source, IP and user agent). If any choice is an opt-in, `customer_opt_in_record` adds the
    subject-level data consent; `create_lead` (a confirmed sign-up) also makes a lead for an
    address no subject holds. Opting in a suppressed address is refused before anything is
    written (field error `value`, code `suppressed`).
    """
    value = normalize_address(channel, value)
    choices = list(choices)
    _check_choices(profile, choices)
    opting_in = any(choice.status == Status.OPTED_IN for choice in choices)
    if opting_in and is_suppressed(channel, value):
        raise field_error("value", SUPPRESSED_MESSAGE, code="suppressed")
    result = CustomerResult()
    for choice in choices:
        record, _, changed = contact_point_consent_set(
            channel=channel,
            value=value,
            purpose=choice.purpose,
            topic=choice.topic,
            status=choice.status,
            evidence=evidence.replace(notice_version=profile.notice_version),
        )
        if record is not None:  # None: a suppressed address, nothing recorded
            result.records.append(record)
        result.changed += int(changed)
    if opting_in:
        result.data_consents, result.lead = customer_opt_in_record(
            profile=profile,
            channel=channel,
            value=value,
            evidence=evidence.replace(description=evidence.description or evidence.reason),
            create_lead=create_lead,
        )
    return result


def _check_choices(profile: ComplianceProfile, choices: list[Choice]) -> None:
    for choice in choices:
        if choice.purpose.profile_id != profile.pk:
            raise field_error("purpose", "This purpose belongs to another compliance profile.")
        if choice.topic is not None and choice.topic.purpose_id != choice.purpose.pk:
            raise field_error("topic", "This topic belongs to another purpose.")


@sealed_atomic
def customer_opt_in_record(
    *,
    profile: ComplianceProfile,
    channel: str,
    value: str,
    evidence: Evidence,
    create_lead: bool = False,
) -> tuple[list[DataConsent], Lead | None]:
    """The subject-level side of a customer's opt-in (DESIGN §3.6): `(consents, new lead)`.

    With a data policy on the profile, every non-anonymized lead and contact holding the address
    gets an active data consent under it (same source and evidence) unless it already has an
    active one at that level or higher. With `create_lead` and no subject holding the address, a
    lead (status open, `source` as its capture source) is created to hold that consent.
    Read-only subjects (qualified or disqualified leads, inactive contacts) are left unchanged:
    the data-consent service refuses writes on them.
    """
    policy = profile.data_policy
    if policy is None or not policy.active:
        return [], None
    value = normalize_address(channel, value)
    subjects = subjects_holding(channel, value)
    lead = None
    if not subjects and create_lead and channel in SUBJECT_FIELD:
        lead = _lead_for_address(channel=channel, value=value, source=evidence.source)
        subjects = [lead]
    today = timezone.localdate()
    consents = [
        _data_consent_for(
            subject,
            policy=policy,
            profile=profile,
            evidence=evidence,
        )
        for subject in subjects
        if not subject.is_read_only
        and not _has_consent_at_level(subject, policy.consent_level, today)
    ]
    skipped = [subject for subject in subjects if subject.is_read_only]
    if skipped:
        logger.info("customer opt-in: %d read-only subject(s) left unchanged", len(skipped))
    return consents, lead


def _lead_for_address(*, channel: str, value: str, source: str) -> Lead:
    address_field = SUBJECT_FIELD[channel]
    # A lead needs a last name; the customer gave only an address.
    last_name = value.split("@", 1)[0][:100] if address_field == "email" else value
    return subject_create(
        model=Lead,
        data={address_field: value, "last_name": last_name, "source": source},
        source=source,
        reason="created by a customer's sign-up",
    )


def _data_consent_for(
    subject: Subject,
    *,
    policy: DataPolicy,
    profile: ComplianceProfile,
    evidence: Evidence,
) -> DataConsent:
    return data_consent_create(
        policy=policy,
        **{subject.subject_type: subject},
        evidence=evidence.replace(notice_version=profile.notice_version or None),
    )
