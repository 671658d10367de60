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
from django.db.models import Case, F, IntegerField, Lookup, Max, Min, Q, Value, When
from django.db.models.functions import Cast, Lower
from django.db.models.lookups import In
from django.utils import timezone

from common.prepared import PreparedQuery
from consent.contact_points import (
    address_hasher,
    field_error,
    normalize_address,
    normalized_address_hash,
)
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
        records = by_address.get((channel, value))
        if records is None:
            records = by_address[(channel, value)] = {}
        records[(purpose_id, topic_id)] = fact
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


class Question:
    """What a check asks, apart from the address: the purpose, the topic, the profile's tracking
    purpose and the records the answer reads. One instance serves every check asking the same."""

    __slots__ = ("purpose", "purpose_ids", "record_keys", "topic", "topic_ids", "tracking")

    def __init__(self, purpose: Purpose, topic: Topic | None, tracking: Purpose | None):
        self.purpose = purpose
        self.topic = topic
        self.tracking = tracking  # the profile's tracking purpose, if it has one
        keys = [(purpose.pk, None)]
        if topic is not None:
            keys.append((purpose.pk, topic.pk))
        if tracking is not None:
            keys.append((tracking.pk, None))
        self.record_keys: tuple[RecordKey, ...] = tuple(keys)
        self.purpose_ids = {purpose.pk} | ({tracking.pk} if tracking else set())
        self.topic_ids = {topic.pk} if topic else set()


@dataclass(frozen=True)
class Catalog:
    """The purposes (with profiles) and topics the questions name, fetched up front."""

    purposes: dict[int, Purpose]
    tracking_by_profile: dict[int, Purpose]
    topics: dict[int, Topic]
    asked: dict[tuple, Question] = field(default_factory=dict)  # the questions, by their ids

    @classmethod
    def fetch(cls, purpose_refs: Iterable, topic_refs: Iterable) -> "Catalog":
        """Two queries at most: the purposes of every profile involved, and the topics."""
        purpose_ids = {_pk_or_none(ref, Purpose) for ref in _distinct(purpose_refs)}
        topic_ids = {_pk_or_none(ref, Topic) for ref in _distinct(topic_refs)}
        purpose_ids.discard(None)
        topic_ids.discard(None)
        purposes = _catalog_purposes(purpose_ids)
        tracking_by_profile: dict[int, Purpose] = {}
        for purpose in purposes:
            if purpose.kind == Purpose.Kind.TRACKING:
                tracking_by_profile.setdefault(purpose.profile_id, purpose)
        topics = _instances(Topic, _CATALOG_TOPICS.rows(topic_ids)) if topic_ids else []
        return cls(
            purposes={purpose.pk: purpose for purpose in purposes},
            tracking_by_profile=tracking_by_profile,
            topics={topic.pk: topic for topic in topics},
        )

    def question(self, purpose, topic=None, profile=None) -> Question:
        """The validated question; field errors for unknown or mismatched ids. Asked again with
        the same plain ids, the same instance comes back (10,000 checks name a few purposes)."""
        key = (_ref(purpose), _ref(topic), _ref(profile))
        try:
            return self.asked[key]
        except (KeyError, TypeError):  # TypeError: an unhashable id, refused below
            pass
        if purpose is None:
            raise field_error("purpose", "This field is required.", "required")
        purpose = _lookup(self.purposes, purpose, Purpose, "purpose")
        topic = None if topic is None else _lookup(self.topics, topic, Topic, "topic")
        if profile is not None and _pk(profile, ComplianceProfile, "profile") != purpose.profile_id:
            raise field_error("profile", "The purpose belongs to another compliance profile.")
        if topic is not None and topic.purpose_id != purpose.pk:
            raise field_error("topic", "This topic belongs to another purpose.")
        question = Question(purpose, topic, self.tracking_by_profile.get(purpose.profile_id))
        if all(type(ref) in _PLAIN_REFS for ref in key):
            self.asked[key] = question
        return question


def _columns(model) -> list[str]:
    return [f.attname for f in model._meta.concrete_fields]


def _instances(model, rows: Iterable[tuple]) -> list:
    return [model.from_db("default", _columns(model), row) for row in rows]


_PURPOSE_COLUMNS = len(Purpose._meta.concrete_fields)
# The purposes of every profile involved, each with its profile (a select_related, compiled
# once: see common.prepared), and the topics asked about.
_CATALOG_PURPOSES = PreparedQuery(
    lambda purpose_ids: (
        Purpose.objects.filter(
            profile__in=ComplianceProfile.objects.filter(purposes__in=purpose_ids)
        )
        .order_by("pk")
        .values_list(
            *_columns(Purpose), *(f"profile__{column}" for column in _columns(ComplianceProfile))
        )
    )
)
_CATALOG_TOPICS = PreparedQuery(
    lambda topic_ids: (
        Topic.objects.filter(pk__in=topic_ids).order_by().values_list(*_columns(Topic))
    )
)


def _catalog_purposes(purpose_ids: set[int]) -> list[Purpose]:
    profiles: dict[int, ComplianceProfile] = {}
    purposes = []
    for row in _CATALOG_PURPOSES.rows(purpose_ids):
        purpose = Purpose.from_db("default", _columns(Purpose), row[:_PURPOSE_COLUMNS])
        profile_row = row[_PURPOSE_COLUMNS:]
        profile = profiles.get(profile_row[0])
        if profile is None:
            profile = profiles[profile_row[0]] = ComplianceProfile.from_db(
                "default", _columns(ComplianceProfile), profile_row
            )
        Purpose.profile.field.set_cached_value(purpose, profile)
        purposes.append(purpose)
    return purposes


_PLAIN_REFS = (type(None), int, str)
# Ids the database can hold (bigint): others are unknown, never sent (OverflowError).
_MIN_ID, _MAX_ID = -(2**63), 2**63 - 1


def _ref(value):
    """A hashable stand-in for an id given as int, str or None (True and 1 kept apart)."""
    return value if type(value) in _PLAIN_REFS else ("other", id(value))


def _distinct(refs: Iterable) -> Iterable:
    """The refs without repeats (10,000 checks name a few purposes)."""
    return {_ref(ref): ref for ref in refs}.values()


def _pk(value, model, name: str) -> int:
    if isinstance(value, model):
        return value.pk
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdecimal():
        return int(value)
    raise field_error(name, f"Enter a {model._meta.verbose_name} id.")


def _pk_or_none(value, model) -> int | None:
    """The id to fetch, or None: nothing to fetch (not an id, or none the database can hold)."""
    try:
        pk = None if value is None else _pk(value, model, "")
    except ValidationError:
        return None
    return pk if pk is not None and _MIN_ID <= pk <= _MAX_ID else None


def _lookup(objects: dict[int, models.Model], value, model, name: str):
    try:
        return objects[_pk(value, model, name)]
    except KeyError:
        raise field_error(name, f"Unknown {model._meta.verbose_name}.") from None


def _decide(facts: AddressFacts, question: Question, memo: dict | None = None) -> Decision:
    """The decision; `memo` shares the rules' verdict between addresses with the same facts."""
    consulted, statuses = [], []
    records = facts.records
    for key in question.record_keys:
        record = records.get(key)
        if record is None:
            statuses.append(Status.NOT_SET)
        else:
            consulted.append(record.id)
            statuses.append(record.status)
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


# ---------------------------------------------------------------------------------------------
# One check


def decide(*, channel: str, value: str, purpose, topic=None, profile=None) -> Decision:
    """The decision for one address; `purpose`, `topic`, `profile` are instances or ids.

    A constant handful of queries (at most five), whatever the data.
    """
    address = (channel, normalize_address(channel, value))
    question = Catalog.fetch([purpose], [topic]).question(purpose, topic, profile)
    facts = address_facts(address, purpose_ids=question.purpose_ids, topic_ids=question.topic_ids)
    return _decide(facts, question)


def address_facts(address: Address, *, purpose_ids: set[int], topic_ids: set[int]) -> AddressFacts:
    """The facts of one address, straight from its rows (three queries at most, each compiled
    once per process: see common.prepared)."""
    channel, value = address
    now = timezone.now()
    records = _ADDRESS_RECORDS.rows(channel, value, purpose_ids, topic_ids)
    return AddressFacts(
        channel,
        value,
        suppressed=bool(_SUPPRESSION.rows(channel, normalized_address_hash(value))),
        subjects=_subjects_holding(channel, value),
        records=_record_facts(records, now).get(address, {}),
    )


_ADDRESS_RECORDS = PreparedQuery(
    lambda channel, value, purpose_ids, topic_ids: _records_query(
        Q(channel=channel, value=value), purpose_ids, topic_ids
    )
)
_SUPPRESSION = PreparedQuery(
    lambda channel, value_hash: (
        Suppression.objects.filter(channel=channel, value_hash=value_hash)
        .order_by()
        .values_list("pk")[:1]
    )
)


def _subjects_query(lookup: str):
    """Every non-anonymized lead and contact holding an address (`with_email` / `with_phone`)."""

    def build(value):
        fields = ("restricted", "data_protection_consent", "consent_level", *ALLOW_FIELDS)
        leads, contacts = (
            getattr(model.objects.not_anonymized(), lookup)(value).order_by().values_list(*fields)
            for model in (Lead, Contact)
        )
        return leads.union(contacts, all=True)

    return PreparedQuery(build)


_SUBJECTS_HOLDING = {"email": _subjects_query("with_email"), "phone": _subjects_query("with_phone")}


def _subjects_holding(channel: str, value: str) -> SubjectFacts | None:
    """Every non-anonymized lead and contact with the address, folded in Python."""
    if channel not in SUBJECT_CHANNEL_FIELD:
        return None  # custom channels have no subjects
    folded = None
    for restricted, protection, level, *allows in _SUBJECTS_HOLDING[
        SUBJECT_CHANNEL_FIELD[channel]
    ].rows(value):
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
    asked = _questions(checks)
    questions = {id(question): question for _, question in asked}.values()
    facts = gather_facts(
        {address for address, _ in asked},
        purpose_ids=set().union(*(question.purpose_ids for question in questions)),
        topic_ids=set().union(*(question.topic_ids for question in questions)),
    )
    memo: dict = {}
    return [_decide(facts[address], question, memo) for address, question in asked]


def _questions(checks: list[dict]) -> list[tuple[Address, Question]]:
    checks = [check if isinstance(check, dict) else {} for check in checks]
    catalog = Catalog.fetch(
        [check.get("purpose") for check in checks], [check.get("topic") for check in checks]
    )
    normalized: dict[tuple, Address] = {}  # the same address is often checked many times
    asked, errors = [], {}
    for index, check in enumerate(checks):
        get = check.get
        try:
            address = _normalized(get("channel"), get("value"), normalized)
            asked.append((address, catalog.question(get("purpose"), get("topic"), get("profile"))))
        except ValidationError as exc:
            errors.update(
                {f"checks[{index}].{name}": msgs for name, msgs in exc.message_dict.items()}
            )
    if errors:
        raise ValidationError(errors)
    return asked


def _normalized(channel, value, cache: dict[tuple, Address]) -> Address:
    if not (isinstance(channel, str) and isinstance(value, str)):
        normalize_address(channel, value)  # raises the field error
    address = cache.get((channel, value))
    if address is None:
        address = cache[(channel, value)] = (channel, normalize_address(channel, value))
    return address


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


class AnyOf(Lookup):
    """`lhs = ANY(ARRAY(SELECT unnest(%s::text[])))`: text values as one array parameter.

    On PostgreSQL 10,000 addresses travel as one parameter instead of 10,000 placeholders
    (cheaper to compile, bind and parse), and, read through a sub-select, the array's length is
    hidden from the planner: it probes the address index once per value instead of choosing a
    (parallel) sequential scan of a million subjects for a few thousand addresses, three to four
    times slower. Other databases get the plain IN list.
    """

    lookup_name = "any_of"
    prepare_rhs = False

    def __init__(self, lhs, values: Iterable[str], *, hide_length: bool = True):
        super().__init__(lhs, list(values))
        self.hide_length = hide_length  # False: a small table the planner rightly scans whole

    def as_sql(self, compiler, connection):
        if connection.vendor != "postgresql":
            return In(self.lhs, self.rhs).as_sql(compiler, connection)
        lhs_sql, lhs_params = self.process_lhs(compiler, connection)
        array = "ARRAY(SELECT unnest(%s::text[]))" if self.hide_length else "%s::text[]"
        return f"{lhs_sql} = ANY({array})", (*lhs_params, text_array_literal(self.rhs))


def text_array_literal(values: Iterable[str]) -> str:
    """PostgreSQL's text form of a text[] (`{"a","b\\"c"}`), sent as one string parameter:
    psycopg adapts a 10,000-item list element by element in Python, twice as slow."""
    quoted = (value.replace("\\", "\\\\").replace('"', '\\"') for value in values)
    return "{" + ",".join(f'"{value}"' for value in quoted) + "}"


def _per_channel(field: str, values_by_channel: dict[str, list[str]], **any_of) -> Q:
    """(channel = c AND field = ANY(...)) OR ...: served by the (channel, ...) indexes."""
    return reduce(
        operator.or_,
        (
            Q(AnyOf(F(field), values, **any_of), channel=channel)
            for channel, values in values_by_channel.items()
        ),
    )


def _suppressed(values_by_channel: dict[str, list[str]]) -> set[Address]:
    address_hash = address_hasher()
    hashes: dict[tuple[str, str], Address] = {
        (channel, address_hash(value)): (channel, value)
        for channel, values in values_by_channel.items()
        for value in values
    }
    by_channel: dict[str, list[str]] = {}
    for channel, value_hash in hashes:
        by_channel.setdefault(channel, []).append(value_hash)
    # A few thousand rows at most: the planner's choice of a plain scan is the right one.
    rows = Suppression.objects.filter(_per_channel("value_hash", by_channel, hide_length=False))
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
    interned: dict[tuple, SubjectFacts] = {}  # few distinct facts: one instance each
    for address_field, key, restricted, min_level, *allows in queries[0].union(
        *queries[1:], all=True
    ):
        row = (bool(restricted), min_level, *map(bool, allows))
        facts = interned.get(row) or interned.setdefault(row, SubjectFacts(*row))
        address = (address_field, key)
        other = folded.get(address)
        folded[address] = facts if other is None else facts.merge(other)
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
        .filter(AnyOf(key, values))
        .values("address_field", "key")
        .annotate(
            any_restricted=Max(flag),
            min_level=Min("consent_level"),
            # Booleans as 0/1: MIN is then "all of them", on SQLite and PostgreSQL alike.
            **{f"all_{name}": Min(Cast(name, IntegerField())) for name in ALLOW_FIELDS},
        )
        .values_list(
            "address_field",
            "key",
            "any_restricted",
            "min_level",
            *(f"all_{name}" for name in ALLOW_FIELDS),
        )
        .order_by()
    )
