"""The consent decision (DESIGN §3.4): may this address be contacted for this purpose / topic?

Two ways in, one rule set. `decide` answers one question with a fixed handful of queries;
`decide_many` answers any number of questions with a fixed number of set-based queries. Both
gather the same per-address `AddressFacts` and hand them to `evaluate`, the only place the
table of §3.4 lives. Decisions are pure reads.
"""

import operator
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import reduce
from itertools import islice

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Case, F, IntegerField, Max, Min, Q, Value, When
from django.db.models.functions import Cast, Lower
from django.utils import timezone

from consent.contact_points import field_error, normalize_address, normalized_address_hash
from consent.models import (
    Channel,
    ComplianceProfile,
    ContactPointConsent,
    Purpose,
    Suppression,
    Topic,
)
from subjects.models import Contact, DataProtectionConsent, Lead

Status = ContactPointConsent.Status
# Enough for the 10,000-check API request in one round; bigger inputs go chunk by chunk.
FACTS_CHUNK_SIZE = 10_000
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
    OPTED_IN = "opted_in", "Opted in"
    NOT_OPTED_OUT = "not_opted_out", "Not opted out"


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str
    tracking_allowed: bool
    consulted_ids: tuple[int, ...] = ()  # contact-point consent records read for the answer


# ---------------------------------------------------------------------------------------------
# Facts: everything the rules need to know about one address


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


@dataclass(frozen=True)
class RecordFact:
    id: int
    status: str  # effective status: an expired opt-in reads as not_set


@dataclass
class AddressFacts:
    channel: str
    value: str
    suppressed: bool = False
    subjects: SubjectFacts | None = None  # None: no subject holds the address
    records: dict[RecordKey, RecordFact] = field(default_factory=dict)

    def status(self, purpose: Purpose, topic: Topic | None = None) -> str:
        record = self.records.get((purpose.pk, topic.pk if topic else None))
        return record.status if record else Status.NOT_SET


def effective_status(status: str, expires_at: datetime | None, now: datetime) -> str:
    if status == Status.OPTED_IN and expires_at is not None and expires_at <= now:
        return Status.NOT_SET
    return status


def _record_facts(
    rows: Iterable[tuple], now: datetime
) -> dict[Address, dict[RecordKey, RecordFact]]:
    """Rows of (id, channel, value, purpose id, topic id, status, expires_at), by address."""
    by_address: dict[Address, dict[RecordKey, RecordFact]] = {}
    for pk, channel, value, purpose_id, topic_id, status, expires_at in rows:
        fact = RecordFact(pk, effective_status(status, expires_at, now))
        by_address.setdefault((channel, value), {})[(purpose_id, topic_id)] = fact
    return by_address


def _records_query(address_match: Q, purpose_ids: set[int], topic_ids: set[int]):
    return (
        ContactPointConsent.objects.filter(address_match, purpose_id__in=purpose_ids)
        .filter(Q(topic__isnull=True) | Q(topic_id__in=topic_ids))
        .order_by()
        .values_list("id", "channel", "value", "purpose_id", "topic_id", "status", "expires_at")
    )


# ---------------------------------------------------------------------------------------------
# The rules (DESIGN §3.4): defined once, applied by both paths


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
    return True, Reason.OPTED_IN if opt_in_required else Reason.NOT_OPTED_OUT


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


# ---------------------------------------------------------------------------------------------
# Questions: validated input, shared by both paths


@dataclass(frozen=True)
class Question:
    address: Address
    purpose: Purpose
    topic: Topic | None
    tracking: Purpose | None  # the profile's tracking purpose, if it has one

    @property
    def purpose_ids(self) -> set[int]:
        return {self.purpose.pk} | ({self.tracking.pk} if self.tracking else set())

    @property
    def record_keys(self) -> list[RecordKey]:
        keys = [(self.purpose.pk, None)]
        if self.topic is not None:
            keys.append((self.purpose.pk, self.topic.pk))
        if self.tracking is not None:
            keys.append((self.tracking.pk, None))
        return keys


@dataclass(frozen=True)
class Catalog:
    """The purposes (with profiles) and topics the questions name, fetched up front."""

    purposes: dict[int, Purpose]
    tracking_by_profile: dict[int, Purpose]
    topics: dict[int, Topic]

    @classmethod
    def fetch(cls, purpose_refs: Iterable, topic_refs: Iterable) -> "Catalog":
        """Two queries at most: the purposes of every profile involved, and the topics."""
        purpose_ids = {_pk_or_none(ref, Purpose) for ref in purpose_refs} - {None}
        topic_ids = {_pk_or_none(ref, Topic) for ref in topic_refs} - {None}
        purposes = list(
            Purpose.objects.select_related("profile")
            .filter(profile__in=ComplianceProfile.objects.filter(purposes__in=purpose_ids))
            .order_by("pk")
        )
        tracking_by_profile: dict[int, Purpose] = {}
        for purpose in purposes:
            if purpose.kind == Purpose.Kind.TRACKING:
                tracking_by_profile.setdefault(purpose.profile_id, purpose)
        topics = Topic.objects.filter(pk__in=topic_ids) if topic_ids else []
        return cls(
            purposes={purpose.pk: purpose for purpose in purposes},
            tracking_by_profile=tracking_by_profile,
            topics={topic.pk: topic for topic in topics},
        )

    def question(self, address: Address, purpose, topic=None, profile=None) -> Question:
        if purpose is None:
            raise field_error("purpose", "This field is required.", "required")
        purpose = _lookup(self.purposes, purpose, Purpose, "purpose")
        topic = None if topic is None else _lookup(self.topics, topic, Topic, "topic")
        if profile is not None and _pk(profile, ComplianceProfile, "profile") != purpose.profile_id:
            raise field_error("profile", "The purpose belongs to another compliance profile.")
        if topic is not None and topic.purpose_id != purpose.pk:
            raise field_error("topic", "This topic belongs to another purpose.")
        return Question(address, purpose, topic, self.tracking_by_profile.get(purpose.profile_id))


def _pk(value, model, name: str) -> int:
    if isinstance(value, model):
        return value.pk
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    raise field_error(name, f"Enter a {model._meta.verbose_name} id.")


def _pk_or_none(value, model) -> int | None:
    try:
        return None if value is None else _pk(value, model, "")
    except ValidationError:
        return None


def _lookup(objects: dict[int, models.Model], value, model, name: str):
    try:
        return objects[_pk(value, model, name)]
    except KeyError:
        raise field_error(name, f"Unknown {model._meta.verbose_name}.") from None


def _decide(facts: AddressFacts, question: Question) -> Decision:
    allowed, reason = evaluate(facts, question.purpose, question.topic)
    tracking = question.tracking
    tracking_allowed = tracking is not None and evaluate(facts, tracking, None)[0]
    consulted = {facts.records[key].id for key in question.record_keys if key in facts.records}
    return Decision(allowed, str(reason), tracking_allowed, tuple(sorted(consulted)))


# ---------------------------------------------------------------------------------------------
# One check


def decide(*, channel: str, value: str, purpose, topic=None, profile=None) -> Decision:
    """The decision for one address; `purpose`, `topic`, `profile` are instances or ids.

    A constant handful of queries (at most five), whatever the data.
    """
    address = (channel, normalize_address(channel, value))
    question = Catalog.fetch([purpose], [topic]).question(address, purpose, topic, profile)
    topic_ids = {question.topic.pk} if question.topic else set()
    return _decide(
        address_facts(address, purpose_ids=question.purpose_ids, topic_ids=topic_ids), question
    )


def address_facts(address: Address, *, purpose_ids: set[int], topic_ids: set[int]) -> AddressFacts:
    """The facts of one address, straight from its rows (three queries at most)."""
    channel, value = address
    now = timezone.now()
    records = _records_query(Q(channel=channel, value=value), purpose_ids, topic_ids)
    return AddressFacts(
        channel,
        value,
        suppressed=Suppression.objects.filter(
            channel=channel, value_hash=normalized_address_hash(value)
        ).exists(),
        subjects=_subjects_holding(channel, value),
        records=_record_facts(records, now).get(address, {}),
    )


def _subjects_holding(channel: str, value: str) -> SubjectFacts | None:
    """Every non-anonymized lead and contact with the address, folded in Python."""
    if channel not in SUBJECT_CHANNEL_FIELD:
        return None  # custom channels have no subjects
    fields = ("restricted", "data_protection_consent", "consent_level", *ALLOW_FIELDS)
    lookup = "with_email" if SUBJECT_CHANNEL_FIELD[channel] == "email" else "with_phone"
    leads, contacts = (
        getattr(model.objects.not_anonymized(), lookup)(value).order_by().values_list(*fields)
        for model in (Lead, Contact)
    )
    folded = None
    for restricted, protection, level, *allows in leads.union(contacts, all=True):
        subject = SubjectFacts(
            restricted or protection == DataProtectionConsent.RESTRICT,
            level,
            *map(bool, allows),
        )
        folded = subject.merge(folded)
    return folded


# ---------------------------------------------------------------------------------------------
# Many checks, set-based


def decide_many(checks: list[dict]) -> list[Decision]:
    """The decisions for many checks (dicts with `channel`, `value`, `purpose`, optional `topic`
    and `profile`), in order. A constant number of queries (at most five) for up to
    FACTS_CHUNK_SIZE distinct addresses. Invalid checks raise one ValidationError whose keys
    are `checks[<index>].<field>`."""
    if not checks:
        return []
    questions = _questions(checks)
    facts = gather_facts(
        {question.address for question in questions},
        purpose_ids=set().union(*(question.purpose_ids for question in questions)),
        topic_ids={question.topic.pk for question in questions if question.topic},
    )
    return [_decide(facts[question.address], question) for question in questions]


def _questions(checks: list[dict]) -> list[Question]:
    checks = [check if isinstance(check, dict) else {} for check in checks]
    catalog = Catalog.fetch(
        [check.get("purpose") for check in checks], [check.get("topic") for check in checks]
    )
    normalized: dict[tuple, Address] = {}  # the same address is often checked many times
    questions, errors = [], {}
    for index, check in enumerate(checks):
        try:
            address = _normalized(check.get("channel"), check.get("value"), normalized)
            questions.append(
                catalog.question(
                    address, check.get("purpose"), check.get("topic"), check.get("profile")
                )
            )
        except ValidationError as exc:
            errors.update(
                {f"checks[{index}].{name}": msgs for name, msgs in exc.message_dict.items()}
            )
    if errors:
        raise ValidationError(errors)
    return questions


def _normalized(channel, value, cache: dict[tuple, Address]) -> Address:
    if not (isinstance(channel, str) and isinstance(value, str)):
        normalize_address(channel, value)  # raises the field error
    if (channel, value) not in cache:
        cache[(channel, value)] = (channel, normalize_address(channel, value))
    return cache[(channel, value)]


def gather_facts(
    addresses: Iterable[Address], *, purpose_ids: set[int], topic_ids: set[int]
) -> dict[Address, AddressFacts]:
    """The facts of a set of (normalized) addresses, all in one dict (bulk checks)."""
    facts: dict[Address, AddressFacts] = {}
    for chunk in iter_facts(set(addresses), purpose_ids=purpose_ids, topic_ids=topic_ids):
        facts.update(chunk)
    return facts


def iter_facts(
    addresses: Iterable[Address],
    *,
    purpose_ids: set[int],
    topic_ids: set[int],
    chunk_size: int = FACTS_CHUNK_SIZE,
) -> Iterator[dict[Address, AddressFacts]]:
    """The facts of any number of (normalized) addresses, one dict per chunk: three queries
    per chunk, never one per address, and memory bounded by the chunk (audiences)."""
    now = timezone.now()
    addresses = iter(addresses)
    while chunk := sorted(set(islice(addresses, chunk_size))):
        yield _chunk_facts(chunk, purpose_ids, topic_ids, now)


def _chunk_facts(
    chunk: list[Address], purpose_ids: set[int], topic_ids: set[int], now: datetime
) -> dict[Address, AddressFacts]:
    values_by_channel: dict[str, list[str]] = {}
    for channel, value in chunk:
        values_by_channel.setdefault(channel, []).append(value)
    suppressed = _suppressed(values_by_channel)
    subjects = _subject_aggregates(values_by_channel)
    address_match = _per_channel("value", values_by_channel)
    records = _record_facts(_records_query(address_match, purpose_ids, topic_ids), now)
    return {
        (channel, value): AddressFacts(
            channel,
            value,
            suppressed=(channel, value) in suppressed,
            subjects=subjects.get((SUBJECT_CHANNEL_FIELD.get(channel), value)),
            records=records.get((channel, value), {}),
        )
        for channel, value in chunk
    }


def _per_channel(field: str, values_by_channel: dict[str, list[str]]) -> Q:
    """(channel = c AND field IN (...)) OR ...: served by the (channel, ...) indexes."""
    return reduce(
        operator.or_,
        (
            Q(channel=channel, **{f"{field}__in": values})
            for channel, values in values_by_channel.items()
        ),
    )


def _suppressed(values_by_channel: dict[str, list[str]]) -> set[Address]:
    hashes: dict[tuple[str, str], Address] = {
        (channel, normalized_address_hash(value)): (channel, value)
        for channel, values in values_by_channel.items()
        for value in values
    }
    by_channel: dict[str, list[str]] = {}
    for channel, value_hash in hashes:
        by_channel.setdefault(channel, []).append(value_hash)
    rows = Suppression.objects.filter(_per_channel("value_hash", by_channel))
    return {hashes[key] for key in rows.order_by().values_list("channel", "value_hash")}


def _subject_aggregates(
    values_by_channel: dict[str, list[str]],
) -> dict[tuple[str, str], SubjectFacts]:
    """One query over leads and contacts, grouped by address: {("email"|"phone", key): facts}."""
    keys = {"email": set(), "phone": set()}
    for channel, values in values_by_channel.items():
        if channel in SUBJECT_CHANNEL_FIELD:
            keys[SUBJECT_CHANNEL_FIELD[channel]].update(values)
    queries = [
        _grouped_subjects(model, address_field, sorted(values))
        for address_field, values in keys.items()
        if values
        for model in (Lead, Contact)
    ]
    if not queries:
        return {}
    folded: dict[tuple[str, str], SubjectFacts] = {}
    for row in queries[0].union(*queries[1:], all=True):
        key = (row["address_field"], row["key"])
        folded[key] = _aggregate_facts(row).merge(folded.get(key))
    return folded


def _grouped_subjects(model, address_field: str, values: list[str]):
    key = Lower("email") if address_field == "email" else F("phone")
    flag = Case(
        When(
            Q(restricted=True) | Q(data_protection_consent=DataProtectionConsent.RESTRICT), then=1
        ),
        default=0,
        output_field=IntegerField(),
    )
    return (
        model.objects.not_anonymized()
        .annotate(key=key, address_field=Value(address_field, output_field=models.CharField()))
        .filter(key__in=values)
        .values("address_field", "key")
        .annotate(
            any_restricted=Max(flag),
            min_level=Min("consent_level"),
            # Booleans as 0/1: MIN is then "all of them", on SQLite and PostgreSQL alike.
            **{f"all_{name}": Min(Cast(name, IntegerField())) for name in ALLOW_FIELDS},
        )
        .order_by()
    )


def _aggregate_facts(row: dict) -> SubjectFacts:
    return SubjectFacts(
        restricted=bool(row["any_restricted"]),
        min_level=row["min_level"],
        **{name: bool(row[f"all_{name}"]) for name in ALLOW_FIELDS},
    )
