"""Many checks: `decide_many` answers any number of questions with a fixed number of set-based
queries, chunk by chunk, feeding the same `evaluate` as a single check.
"""

import operator
from collections.abc import Iterable, Iterator
from datetime import datetime
from functools import reduce
from itertools import islice

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Case, F, IntegerField, Lookup, Max, Min, Q, Value, When
from django.db.models.functions import Cast, Lower
from django.db.models.lookups import In
from django.utils import timezone

from consent.addresses import address_hasher, normalize_address
from consent.decision import past
from consent.decision.explain import with_explanation
from consent.decision.questions import Catalog, Question
from consent.decision.rules import (
    ALLOW_FIELDS,
    HOLDER_COLUMNS,
    SUBJECT_CHANNEL_FIELD,
    Address,
    AddressFacts,
    Decision,
    Holder,
    SubjectFacts,
    answer,
    current_notices,
    explained_facts,
    record_facts,
    records_query,
)
from consent.models import (
    Suppression,
)
from subjects.models import Contact, DataProtectionConsent, Lead

# Enough for the 10,000-check API request in one round; bigger inputs go chunk by chunk.
FACTS_CHUNK_SIZE = 10_000


def decide_many(
    checks: list[dict], *, explain: bool = False, as_of: datetime | None = None
) -> list[Decision]:
    """The decisions for many checks (dicts with `channel`, `value`, `purpose`, optional `topic`
    and `profile`), in order. A constant number of queries (at most five) for up to
    FACTS_CHUNK_SIZE distinct addresses. Invalid checks raise one ValidationError whose keys
    are `checks[<index>].<field>`. `explain` adds each decision's explanation (the same
    queries, selecting more); `as_of` replays them from the history tables
    (consent.decision.past)."""
    if not checks:
        return []
    checks = [check if isinstance(check, dict) else {} for check in checks]
    purpose_refs = [check.get("purpose") for check in checks]
    topic_refs = [check.get("topic") for check in checks]
    if as_of is None:
        catalog = Catalog.fetch(purpose_refs, topic_refs)
    else:
        catalog = past.catalog_as_of(purpose_refs, topic_refs, at=as_of)
    asked = _questions(checks, catalog)
    questions = {id(question): question for _, question in asked}.values()
    addresses = {address for address, _ in asked}
    purpose_ids = set().union(*(question.purpose_ids for question in questions))
    topic_ids = set().union(*(question.topic_ids for question in questions))
    asked_purposes = [
        purpose for question in questions for purpose in (question.purpose, question.tracking)
    ]
    if as_of is None:
        notices = catalog.current_notices(asked_purposes)
    else:
        notices = current_notices(asked_purposes, at=as_of)
    if as_of is None:
        facts = gather_facts(
            addresses,
            purpose_ids=purpose_ids,
            topic_ids=topic_ids,
            explain=explain,
            notices=notices,
        )
    else:
        facts = past.facts_as_of(
            addresses, purpose_ids=purpose_ids, topic_ids=topic_ids, at=as_of, notices=notices
        )
    memo: dict = {}
    decisions = [answer(facts[address], question, memo) for address, question in asked]
    if explain:
        decisions = [
            with_explanation(decision, facts[address], question)
            for decision, (address, question) in zip(decisions, asked, strict=True)
        ]
    return decisions


def _questions(checks: list[dict], catalog: Catalog) -> list[tuple[Address, Question]]:
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
    addresses: Iterable[Address],
    *,
    purpose_ids: set[int],
    topic_ids: set[int],
    explain: bool = False,
    notices: dict[int, frozenset[str]] | None = None,
) -> dict[Address, AddressFacts]:
    """The facts of a set of (normalized) addresses, all in one dict (bulk checks)."""
    facts: dict[Address, AddressFacts] = {}
    for chunk in iter_facts(
        set(addresses),
        purpose_ids=purpose_ids,
        topic_ids=topic_ids,
        explain=explain,
        notices=notices,
    ):
        facts.update(chunk)
    return facts


def iter_facts(
    addresses: Iterable[Address],
    *,
    purpose_ids: set[int],
    topic_ids: set[int],
    chunk_size: int = FACTS_CHUNK_SIZE,
    explain: bool = False,
    notices: dict[int, frozenset[str]] | None = None,
) -> Iterator[dict[Address, AddressFacts]]:
    """The facts of any number of (normalized) addresses, one dict per chunk: three queries
    per chunk, never one per address, and memory bounded by the chunk (audiences). `notices`
    (`current_notices`) marks the opt-ins given under an outdated notice (rule 10a)."""
    now = timezone.now()
    addresses = iter(addresses)
    gather = _explained_chunk_facts if explain else _chunk_facts
    while chunk := sorted(set(islice(addresses, chunk_size))):
        yield gather(chunk, purpose_ids, topic_ids, now, notices)


def _by_channel(chunk: list[Address]) -> dict[str, list[str]]:
    values_by_channel: dict[str, list[str]] = {}
    for channel, value in chunk:
        values_by_channel.setdefault(channel, []).append(value)
    return values_by_channel


def _explained_chunk_facts(
    chunk: list[Address],
    purpose_ids: set[int],
    topic_ids: set[int],
    now: datetime,
    notices: dict[int, frozenset[str]] | None = None,
) -> dict[Address, AddressFacts]:
    """As `_chunk_facts`, with the same three queries selecting the subjects one by one (folded
    in Python, as the single check's explanation does) and the records' evidence."""
    values_by_channel = _by_channel(chunk)
    suppressed = _suppressed(values_by_channel)
    holders = _subject_holders(values_by_channel)
    address_match = _per_channel("value", values_by_channel)
    records = record_facts(
        records_query(address_match, purpose_ids, topic_ids, explain=True), now, notices
    )
    return {
        (channel, value): explained_facts(
            channel,
            value,
            suppressed=(channel, value) in suppressed,
            holders=holders.get((SUBJECT_CHANNEL_FIELD.get(channel), value), ()),
            records=records.get((channel, value), {}),
        )
        for channel, value in chunk
    }


def _chunk_facts(
    chunk: list[Address],
    purpose_ids: set[int],
    topic_ids: set[int],
    now: datetime,
    notices: dict[int, frozenset[str]] | None = None,
) -> dict[Address, AddressFacts]:
    values_by_channel = _by_channel(chunk)
    suppressed = _suppressed(values_by_channel)
    subjects = _subject_aggregates(values_by_channel)
    address_match = _per_channel("value", values_by_channel)
    records = record_facts(records_query(address_match, purpose_ids, topic_ids), now, notices)
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
    queries = [
        _grouped_subjects(model, address_field, sorted(values))
        for address_field, values in _subject_keys(values_by_channel).items()
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


def _subject_keys(values_by_channel: dict[str, list[str]]) -> dict[str, set[str]]:
    keys: dict[str, set[str]] = {"email": set(), "phone": set()}
    for channel, values in values_by_channel.items():
        if channel in SUBJECT_CHANNEL_FIELD:
            keys[SUBJECT_CHANNEL_FIELD[channel]].update(values)
    return keys


def _subject_holders(
    values_by_channel: dict[str, list[str]],
) -> dict[tuple[str, str], list[Holder]]:
    """One query over leads and contacts, row by row: {("email"|"phone", key): holders}."""
    queries = [
        _holder_rows(model, address_field, sorted(values))
        for address_field, values in _subject_keys(values_by_channel).items()
        if values
        for model in (Lead, Contact)
    ]
    if not queries:
        return {}
    holders: dict[tuple[str, str], list[Holder]] = {}
    for address_field, key, *row in queries[0].union(*queries[1:], all=True):
        holders.setdefault((address_field, key), []).append(Holder.from_row(row))
    return holders


def _holder_rows(model, address_field: str, values: list[str]):
    key = Lower("email") if address_field == "email" else F("phone")
    return (
        model.objects.not_anonymized()
        .annotate(
            key=key,
            address_field=Value(address_field, output_field=models.CharField()),
            kind=Value(model._meta.model_name, output_field=models.CharField()),
        )
        .filter(AnyOf(key, values))
        .order_by()
        .values_list("address_field", "key", *HOLDER_COLUMNS)
    )


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
