"""The consent decision's rules (DESIGN §3.4): the facts of an address, and `evaluate`, the only
place the table of §3.4 lives. Every path (single, bulk, stream) gathers facts its own way and
hands them here. Decisions are pure reads.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from django.db import models
from django.db.models import Q

from consent.models import (
    Channel,
    ContactPointConsent,
    Notice,
    Purpose,
    Topic,
)
from subjects.models import DataProtectionConsent

if TYPE_CHECKING:
    from consent.decision.explain import Explanation
    from consent.decision.questions import Question

Status = ContactPointConsent.Status


ALLOW_FIELDS = ("allow_email", "allow_bulk_email", "allow_sms", "allow_phone", "allow_tracking")


SUBJECT_CHANNEL_FIELD = {Channel.EMAIL: "email", Channel.SMS: "phone", Channel.VOICE: "phone"}


Address = tuple[str, str]  # (channel, normalized value)


RecordKey = tuple[int, int | None]  # (purpose id, topic id or None for the purpose record)


class Reason(models.TextChoices):
    PURPOSE_DISABLED = "purpose_disabled", "Purpose disabled: no check"
    SUPPRESSED = "suppressed", "Address suppressed"
    SUBJECT_RESTRICTED = "subject_restricted", "A subject with this address is restricted"
    INSUFFICIENT_CONSENT_LEVEL = (
        "insufficient_consent_level",
        "A subject with this address has too low a consent level",
    )
    SUBJECT_PREFERENCE = "subject_preference", "A subject with this address forbids it"
    PURPOSE_OPTED_OUT = "purpose_opted_out", "Opted out of the purpose"
    TOPIC_OPTED_OUT = "topic_opted_out", "Opted out of the topic"
    NO_PURPOSE_OPT_IN = "no_purpose_opt_in", "No opt-in to the purpose"
    NO_TOPIC_OPT_IN = "no_topic_opt_in", "No opt-in to the topic"
    NOTICE_OUTDATED = "notice_outdated", "Opt-in given under an older notice"
    OPTED_IN = "opted_in", "Opted in"
    NOT_OPTED_OUT = "not_opted_out", "Not opted out"


# The number of the §3.4 rule that gives each reason (the explanation's `rule`).
RULE_OF_REASON = {
    Reason.PURPOSE_DISABLED: "2",
    Reason.SUPPRESSED: "3",
    Reason.SUBJECT_RESTRICTED: "4",
    Reason.INSUFFICIENT_CONSENT_LEVEL: "5",
    Reason.SUBJECT_PREFERENCE: "6",
    Reason.PURPOSE_OPTED_OUT: "7",
    Reason.TOPIC_OPTED_OUT: "8",
    Reason.NO_PURPOSE_OPT_IN: "9",
    Reason.NO_TOPIC_OPT_IN: "10",
    Reason.NOTICE_OUTDATED: "10a",
    Reason.OPTED_IN: "11",
    Reason.NOT_OPTED_OUT: "11",
}


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str
    tracking_allowed: bool
    consulted_ids: tuple[int, ...] = ()  # contact-point consent records read for the answer
    explanation: "Explanation | None" = None  # asked with explain (consent.decision.explain)


@dataclass(frozen=True)
class SubjectFacts:
    """The non-anonymized subjects holding an address, folded: the least permissive wins."""

    restricted: bool
    min_level: int
    allow_email: bool
    allow_bulk_email: bool
    allow_sms: bool
    allow_phone: bool
    allow_tracking: bool

    def merge(self, other: "SubjectFacts | None") -> "SubjectFacts":
        if other is None:
            return self
        return SubjectFacts(
            restricted=self.restricted or other.restricted,
            min_level=min(self.min_level, other.min_level),
            **{name: getattr(self, name) and getattr(other, name) for name in ALLOW_FIELDS},
        )


# The columns of a subject an explanation names, in Holder.from_row's order (`kind` is the
# subject type, annotated).
HOLDER_COLUMNS = (
    "kind",
    "id",
    "first_name",
    "last_name",
    "data_protection_consent",
    "restricted",
    "consent_level",
    *ALLOW_FIELDS,
)


@dataclass(frozen=True)
class Holder:
    """One non-anonymized lead or contact holding an address, as an explanation names it."""

    type: str  # "lead" | "contact"
    id: int
    name: str  # for the admin's wording; never in the API's explanation
    data_protection_consent: str
    restricted: bool
    consent_level: int
    allow_email: bool
    allow_bulk_email: bool
    allow_sms: bool
    allow_phone: bool
    allow_tracking: bool

    @classmethod
    def from_row(cls, row) -> "Holder":
        """(type, id, first name, last name, data_protection_consent, restricted, level,
        *ALLOW_FIELDS) — the columns every explain path selects, in that order."""
        kind, pk, first_name, last_name, protection, restricted, level, *allows = row
        name = f"{first_name or ''} {last_name or ''}".strip()
        return cls(kind, pk, name, protection, bool(restricted), level, *map(bool, allows))

    def facts(self) -> SubjectFacts:
        return SubjectFacts(
            restricted=self.restricted
            or self.data_protection_consent == DataProtectionConsent.RESTRICT,
            min_level=self.consent_level,
            **{name: getattr(self, name) for name in ALLOW_FIELDS},
        )


def fold_holders(holders: Iterable[Holder]) -> SubjectFacts | None:
    """The least-permissive fold of the subjects (None when there are none)."""
    folded = None
    for holder in holders:
        folded = holder.facts().merge(folded)
    return folded


@dataclass(frozen=True)
class RecordFact:
    id: int
    status: str  # effective status: an expired opt-in reads as not_set
    outdated: bool = False  # rule 10a: an opt-in given under a notice older than the current
    # Gathered only for an explanation (None otherwise): the stored status and the evidence.
    stored_status: str | None = None
    source: str | None = None
    captured_at: datetime | None = None
    notice_version: str | None = None


@dataclass
class AddressFacts:
    channel: str
    value: str
    suppressed: bool = False
    subjects: SubjectFacts | None = None  # None: no subject holds the address
    records: dict[RecordKey, RecordFact] = field(default_factory=dict)
    # Gathered only for an explanation: each subject folded into `subjects`, by (type, id).
    holders: tuple[Holder, ...] | None = None
    erased: bool = False  # as of a past instant: suppressed since by an erasure

    def status(self, purpose: Purpose, topic: Topic | None = None) -> str:
        record = self.records.get((purpose.pk, topic.pk if topic else None))
        return record.status if record else Status.NOT_SET


def explained_facts(
    channel: str,
    value: str,
    *,
    suppressed: bool,
    holders: Iterable[Holder],
    records: dict[RecordKey, RecordFact],
    erased: bool = False,
) -> AddressFacts:
    """Facts gathered subject by subject: folded here, the one fold every explain path uses."""
    holders = tuple(sorted(holders, key=lambda holder: (holder.type, holder.id)))
    return AddressFacts(
        channel,
        value,
        suppressed=suppressed,
        subjects=fold_holders(holders) if channel in SUBJECT_CHANNEL_FIELD else None,
        records=records,
        holders=holders,
        erased=erased,
    )


def effective_status(status: str, expires_at: datetime | None, now: datetime) -> str:
    if status == Status.OPTED_IN and expires_at is not None and expires_at <= now:
        return Status.NOT_SET
    return status


def evaluate(facts: AddressFacts, purpose: Purpose, topic: Topic | None = None) -> tuple[bool, str]:
    """The table of §3.4 (rule 1, invalid input, is the callers' ValidationError)."""
    if purpose.consent_model == Purpose.ConsentModel.DISABLED:
        return True, Reason.PURPOSE_DISABLED
    if facts.suppressed:
        return False, Reason.SUPPRESSED
    subject_reason = _subject_gate(facts, purpose)
    if subject_reason:
        return False, subject_reason
    purpose_status = facts.status(purpose)
    topic_status = facts.status(purpose, topic) if topic else None
    if purpose_status == Status.OPTED_OUT:
        return False, Reason.PURPOSE_OPTED_OUT
    if topic_status == Status.OPTED_OUT:
        return False, Reason.TOPIC_OPTED_OUT
    opt_in_required = purpose.requires_opt_in(facts.channel)
    if opt_in_required and purpose_status != Status.OPTED_IN:
        return False, Reason.NO_PURPOSE_OPT_IN
    if opt_in_required and topic and topic_status != Status.OPTED_IN:
        return False, Reason.NO_TOPIC_OPT_IN
    if opt_in_required and _notice_outdated(facts, purpose, topic):
        return False, Reason.NOTICE_OUTDATED
    return True, Reason.OPTED_IN if opt_in_required else Reason.NOT_OPTED_OUT


def _notice_outdated(facts: AddressFacts, purpose: Purpose, topic: Topic | None) -> bool:
    """Rule 10a: the purpose requires the current notice and an opt-in rules 9/10 relied on
    was given under an older one."""
    if not purpose.require_current_notice:
        return False
    keys = [(purpose.pk, None)] + ([(purpose.pk, topic.pk)] if topic else [])
    return any(facts.records[key].outdated for key in keys if key in facts.records)


def current_notices(
    purposes: Iterable[Purpose | None], *, at: datetime | None = None
) -> dict[int, frozenset[str]]:
    """Rule 10a's facts: per purpose requiring the current notice whose profile has a published
    material notice, the notice versions still current (at `at`, else now). No query when no
    purpose requires it."""
    requiring = [purpose for purpose in purposes if purpose and purpose.require_current_notice]
    if not requiring:
        return {}
    versions = Notice.objects.current_versions(
        profile_ids={purpose.profile_id for purpose in requiring}, at=at
    )
    return {
        purpose.pk: frozenset(versions[("profile", purpose.profile_id)])
        for purpose in requiring
        if ("profile", purpose.profile_id) in versions
    }


def _subject_gate(facts: AddressFacts, purpose: Purpose) -> str | None:
    """Rules 4–6; skipped for an address no subject holds or a profile that does not ask."""
    subjects = facts.subjects
    if subjects is None or not purpose.profile.check_subject_consent:
        return None
    if subjects.restricted:
        return Reason.SUBJECT_RESTRICTED
    if subjects.min_level < purpose.required_level:
        return Reason.INSUFFICIENT_CONSENT_LEVEL
    if not _preferences_allow(subjects, facts.channel, purpose):
        return Reason.SUBJECT_PREFERENCE
    return None


def _preferences_allow(subjects: SubjectFacts, channel: str, purpose: Purpose) -> bool:
    commercial = purpose.kind == Purpose.Kind.COMMERCIAL
    by_channel = {
        Channel.EMAIL: subjects.allow_email and (subjects.allow_bulk_email or not commercial),
        Channel.SMS: subjects.allow_sms,
        Channel.VOICE: subjects.allow_phone,
    }
    allowed = by_channel.get(channel, True)
    if purpose.kind == Purpose.Kind.TRACKING:
        allowed = allowed and subjects.allow_tracking
    return allowed


def answer(facts: AddressFacts, question: "Question", memo: dict | None = None) -> Decision:
    """The decision; `memo` shares the rules' verdict between addresses with the same facts."""
    consulted, statuses = [], []
    records = facts.records
    for key in question.record_keys:
        record = records.get(key)
        if record is None:
            statuses.append(Status.NOT_SET)
        else:
            consulted.append(record.id)
            statuses.append((record.status, record.outdated) if record.outdated else record.status)
    consulted.sort()
    # Everything evaluate() reads for this question: the same key, the same verdict.
    key = (question, facts.channel, facts.suppressed, facts.subjects, *statuses)
    verdict = memo.get(key) if memo is not None else None
    if verdict is None:
        allowed, reason = evaluate(facts, question.purpose, question.topic)
        tracking = question.tracking
        tracking_allowed = tracking is not None and evaluate(facts, tracking, None)[0]
        verdict = (allowed, str(reason), tracking_allowed)
        if memo is not None:
            memo[key] = verdict
    return Decision(*verdict, tuple(consulted))


def record_facts(
    rows: Iterable[tuple], now: datetime, notices: dict[int, frozenset[str]] | None = None
) -> dict[Address, dict[RecordKey, RecordFact]]:
    """Rows of RECORD_COLUMNS (explain paths add RECORD_DETAIL_COLUMNS), by address; `notices`
    (see `current_notices`) marks the outdated opt-ins (rule 10a)."""
    by_address: dict[Address, dict[RecordKey, RecordFact]] = {}
    notices = notices or {}
    for row in rows:
        pk, channel, value, purpose_id, topic_id, status, expires_at, notice_version, *detail = row
        effective = effective_status(status, expires_at, now)
        current = notices.get(purpose_id)
        outdated = (
            current is not None and effective == Status.OPTED_IN and notice_version not in current
        )
        fact = (
            RecordFact(pk, effective, outdated, status, *detail, notice_version)
            if detail
            else RecordFact(pk, effective, outdated)
        )
        records = by_address.get((channel, value))
        if records is None:
            records = by_address[(channel, value)] = {}
        records[(purpose_id, topic_id)] = fact
    return by_address


RECORD_COLUMNS = (
    "id",
    "channel",
    "value",
    "purpose_id",
    "topic_id",
    "status",
    "expires_at",
    "notice_version",
)


RECORD_DETAIL_COLUMNS = ("source", "captured_at")  # explain adds these


def records_query(
    address_match: Q, purpose_ids: set[int], topic_ids: set[int], *, explain: bool = False
):
    columns = RECORD_COLUMNS + (RECORD_DETAIL_COLUMNS if explain else ())
    return (
        ContactPointConsent.objects.filter(address_match, purpose_id__in=purpose_ids)
        .filter(Q(topic__isnull=True) | Q(topic_id__in=topic_ids))
        .order_by()
        .values_list(*columns)
    )
