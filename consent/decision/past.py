"""The decision as of a past instant (DESIGN §3.4 "As of a past instant"), replayed from the
history tables (django-simple-history) as the data stood then: the contact-point records, the
subjects' derived fields and preferences, the suppressions, and the profiles', purposes' and
topics' configuration.

Each table is read set-based, in one statement for any number of addresses: among the history
rows up to the instant, the latest of each object (`ROW_NUMBER() OVER (PARTITION BY id ORDER
BY history_date DESC)`), unless that latest row is its deletion. Six queries, whatever the
number of checks. The facts are handed to the same `evaluate`, with the explanation's details.

An erased person's past is not replayed: anonymization scrubbed the subject's history rows (no
address any more, so they match nothing) and deleted its addresses' contact-point history. Only
the suppression answers: an address suppressed now by an erasure after the instant reads as
suppressed then (`erased`), since what it held before is gone on purpose.
"""

import functools
from collections.abc import Iterable
from datetime import UTC, datetime

from django.db import connection
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from consent.addresses import address_hasher, field_error
from consent.decision.questions import Catalog, ids_asked
from consent.decision.rules import (
    ALLOW_FIELDS,
    RECORD_COLUMNS,
    RECORD_DETAIL_COLUMNS,
    SUBJECT_CHANNEL_FIELD,
    Address,
    AddressFacts,
    Holder,
    explained_facts,
    record_facts,
)
from consent.models import ComplianceProfile, ContactPointConsent, Purpose, Suppression, Topic
from consent.translation import with_base_texts_only
from subjects.models import Contact, Lead


def validate_as_of(at: datetime) -> datetime:
    """`at` if it is an aware instant not in the future; the `as_of` field error otherwise."""
    if not isinstance(at, datetime):
        raise field_error("as_of", "Enter an ISO 8601 instant, e.g. 2026-03-03T09:00:00Z.")
    if timezone.is_naive(at):
        at = timezone.make_aware(at)
    if at > timezone.now():
        raise field_error("as_of", "This instant is in the future: ask without as_of.")
    return at


# ---------------------------------------------------------------------------------------------
# Configuration: the purposes (with their profiles) and topics as they stood


def catalog_as_of(purpose_refs: Iterable, topic_refs: Iterable, *, at: datetime) -> Catalog:
    """The Catalog the checks would have read at `at` (one query, two with topics): a purpose or
    topic that did not exist then is unknown, as for a live check."""
    at = validate_as_of(at)
    purpose_ids = ids_asked(purpose_refs, Purpose)
    topic_ids = ids_asked(topic_refs, Topic)
    purposes = _purposes_of_profiles(purpose_ids, at) if purpose_ids else []
    topics = _instances(Topic, *_in("id", topic_ids), at) if topic_ids else []
    return Catalog.of(purposes, topics)


def _purposes_of_profiles(purpose_ids: set[int], at: datetime) -> list[Purpose]:
    """Every purpose of the asked purposes' profiles (each profile's tracking purpose), each
    with its profile as it stood: the latest rows of both, joined, in one statement."""
    qn = connection.ops.quote_name
    purpose_fields, profile_fields = _fields(Purpose), _fields(ComplianceProfile)
    table = qn(_history(Purpose)._meta.db_table)
    asked_sql, asked_params = _in("id", purpose_ids)
    instant = _db_instant(at)
    profiles_asked = (
        f"SELECT {qn('profile_id')} FROM {table} WHERE {asked_sql} AND {qn('history_date')} <= %s"
    )
    purposes_sql, purposes_params = _latest_sql(
        _history(Purpose),
        [field.column for field in purpose_fields],
        f"{qn('profile_id')} IN ({profiles_asked})",
        [*asked_params, instant],
        at,
    )
    profiles_sql, profiles_params = _latest_sql(
        _history(ComplianceProfile),
        [field.column for field in profile_fields],
        f"{qn('id')} IN ({profiles_asked})",
        [*asked_params, instant],
        at,
    )
    purpose_columns = ", ".join(f"purpose.{qn(field.column)}" for field in purpose_fields)
    profile_columns = ", ".join(f"profile.{qn(field.column)}" for field in profile_fields)
    sql = (
        f"SELECT {purpose_columns}, {profile_columns} FROM ({purposes_sql}) purpose "
        f"JOIN ({profiles_sql}) profile ON profile.{qn('id')} = purpose.{qn('profile_id')} "
        f"ORDER BY purpose.{qn('id')}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*purposes_params, *profiles_params])
        rows = cursor.fetchall()
    split = len(purpose_fields)
    purposes, profiles = [], {}
    for row in rows:
        purpose = _instance(Purpose, purpose_fields, row[:split])
        profile = profiles.get(purpose.profile_id)
        if profile is None:
            profile = profiles[purpose.profile_id] = _instance(
                ComplianceProfile, profile_fields, row[split:]
            )
        Purpose.profile.field.set_cached_value(purpose, profile)
        purposes.append(purpose)
    asked_profiles = {purpose.profile_id for purpose in purposes if purpose.pk in purpose_ids}
    return [purpose for purpose in purposes if purpose.profile_id in asked_profiles]


@functools.cache
def _fields(model) -> list:
    """The model's concrete fields its history tracks."""
    tracked = {field.attname for field in _history(model)._meta.concrete_fields}
    return [field for field in model._meta.concrete_fields if field.attname in tracked]


def _instance(model, fields, row):
    instance = model.from_db("default", [f.attname for f in fields], _converted(fields, row))
    return with_base_texts_only(instance)


def _instances(model, where: str, params: list, at: datetime) -> list:
    """Unsaved instances of `model` built from their latest history rows up to `at`."""
    fields = _fields(model)
    sql, params = _latest_sql(
        _history(model), [field.column for field in fields], where, params, at
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return [_instance(model, fields, row) for row in rows]


def _converted(fields, row) -> list:
    values = []
    for field, value in zip(fields, row, strict=True):
        internal = field.get_internal_type()
        if internal == "BooleanField" and value is not None:
            value = bool(value)
        elif internal == "DateTimeField":
            value = _aware(value)
        values.append(value)
    return values


# ---------------------------------------------------------------------------------------------
# The facts of the addresses as they stood


def facts_as_of(
    addresses: Iterable[Address],
    *,
    purpose_ids: set[int],
    topic_ids: set[int],
    at: datetime,
    notices: dict[int, frozenset[str]] | None = None,
) -> dict[Address, AddressFacts]:
    """The facts of the (normalized) addresses at `at`, with the explanation's details: three
    queries (suppressions, subjects, records), whatever the number of addresses. `notices`
    are the notice versions current at `at` (rule 10a, `current_notices(..., at=at)`)."""
    at = validate_as_of(at)
    addresses = sorted(set(addresses))
    values_by_channel: dict[str, list[str]] = {}
    for channel, value in addresses:
        values_by_channel.setdefault(channel, []).append(value)
    suppressed, erased = _suppressions(values_by_channel, at)
    holders = _holders(values_by_channel, at)
    records = record_facts(_record_rows(values_by_channel, purpose_ids, topic_ids, at), at, notices)
    return {
        (channel, value): explained_facts(
            channel,
            value,
            suppressed=(channel, value) in suppressed or (channel, value) in erased,
            holders=holders.get((SUBJECT_CHANNEL_FIELD.get(channel), value), ()),
            records=records.get((channel, value), {}),
            erased=(channel, value) in erased and (channel, value) not in suppressed,
        )
        for channel, value in addresses
    }


def _suppressions(
    values_by_channel: dict[str, list[str]], at: datetime
) -> tuple[set[Address], set[Address]]:
    """(suppressed at `at`, suppressed now by an erasure after `at`): every history row of the
    addresses' hashes (a handful each), replayed in order."""
    address_hash = address_hasher()
    by_hash = {
        (channel, address_hash(value)): (channel, value)
        for channel, values in values_by_channel.items()
        for value in values
    }
    qn = connection.ops.quote_name
    where, params = _per_channel("value_hash", _grouped(by_hash))
    table = qn(_history(Suppression)._meta.db_table)
    sql = (
        f"SELECT {qn('id')}, {qn('channel')}, {qn('value_hash')}, {qn('history_date')}, "
        f"{qn('history_type')}, {qn('reason')} FROM {table} WHERE {where} "
        f"ORDER BY {qn('history_date')}, {qn('history_id')}"
    )
    then: dict[int, Address | None] = {}
    now: dict[int, tuple[Address, datetime, str] | None] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for pk, channel, value_hash, history_date, history_type, reason in cursor.fetchall():
            address = by_hash[(channel, value_hash)]
            live = history_type != "-"
            if _aware(history_date) <= at:
                then[pk] = address if live else None
            now[pk] = (address, _aware(history_date), reason) if live else None
    suppressed = {address for address in then.values() if address is not None}
    erased = {
        entry[0]
        for pk, entry in now.items()
        if entry is not None and pk not in then and entry[2] == Suppression.ERASURE_REASON
    }
    return suppressed, erased


def _grouped(by_hash: dict[tuple[str, str], Address]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for channel, value_hash in by_hash:
        grouped.setdefault(channel, []).append(value_hash)
    return grouped


# (address field, subject model): the key column of each and the literal naming it.
_HOLDER_SOURCES = [
    (address_field, model) for address_field in ("email", "phone") for model in (Lead, Contact)
]


def _holders(
    values_by_channel: dict[str, list[str]], at: datetime
) -> dict[tuple[str, str], list[Holder]]:
    """The leads and contacts holding each address at `at`, non-anonymized then, in one
    statement: the candidates are the subjects whose history ever held the address up to
    `at`; of each, the latest row up to `at` must still hold it."""
    keys: dict[str, set[str]] = {"email": set(), "phone": set()}
    for channel, values in values_by_channel.items():
        if channel in SUBJECT_CHANNEL_FIELD:
            keys[SUBJECT_CHANNEL_FIELD[channel]].update(values)
    selects, params = [], []
    for address_field, model in _HOLDER_SOURCES:
        if keys[address_field]:
            sql, select_params = _holder_select(model, address_field, keys[address_field], at)
            selects.append(sql)
            params += select_params
    if not selects:
        return {}
    holders: dict[tuple[str, str], list[Holder]] = {}
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(selects), params)
        for address_field, key, *row in cursor.fetchall():
            holders.setdefault((address_field, key), []).append(Holder.from_row(row))
    return holders


def _holder_select(model, address_field: str, values: set[str], at: datetime):
    qn = connection.ops.quote_name
    table = qn(_history(model)._meta.db_table)
    key = f"LOWER({qn('email')})" if address_field == "email" else qn("phone")
    columns = [
        qn("id"),
        qn("first_name"),
        qn("last_name"),
        qn("data_protection_consent"),
        qn("restricted"),
        qn("consent_level"),
        *(qn(name) for name in ALLOW_FIELDS),
    ]
    in_sql, in_params = _in_sql(key, sorted(values))
    outer_in_sql, _ = _in_sql("address_key", sorted(values))
    instant = _db_instant(at)
    sql = (
        f"SELECT '{address_field}', address_key, '{model._meta.model_name}', "
        f"{', '.join(columns)} FROM ("
        f"SELECT {', '.join(columns)}, {key} AS address_key, {qn('anonymized_at')}, "
        f"{qn('history_type')}, {_ROW_NUMBER} AS history_rank FROM {table} "
        f"WHERE {qn('history_date')} <= %s AND {qn('id')} IN ("
        f"SELECT {qn('id')} FROM {table} WHERE {in_sql} AND {qn('history_date')} <= %s)"
        f") latest WHERE history_rank = 1 AND {qn('history_type')} <> '-' "
        f"AND {qn('anonymized_at')} IS NULL AND {outer_in_sql}"
    )
    return sql, [instant, *in_params, instant, *in_params]


def _record_rows(
    values_by_channel: dict[str, list[str]],
    purpose_ids: set[int],
    topic_ids: set[int],
    at: datetime,
) -> list[tuple]:
    """The contact-point records of the addresses at `at`, as `record_facts` reads them."""
    if not purpose_ids:
        return []
    history = _history(ContactPointConsent)
    names = RECORD_COLUMNS + RECORD_DETAIL_COLUMNS  # the explain paths' columns, in order
    qn = connection.ops.quote_name
    address_sql, address_params = _per_channel("value", values_by_channel)
    purpose_sql, purpose_params = _in("purpose_id", purpose_ids)
    topic_sql, topic_params = _in("topic_id", topic_ids)
    where = f"({address_sql}) AND {purpose_sql} AND ({qn('topic_id')} IS NULL OR {topic_sql})"
    sql, params = _latest_sql(
        history, names, where, [*address_params, *purpose_params, *topic_params], at
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [
            (*row[:6], _aware(row[6]), row[7], row[8], _aware(row[9])) for row in cursor.fetchall()
        ]


# ---------------------------------------------------------------------------------------------
# SQL helpers (SQLite and PostgreSQL alike)

# The newest history row of each object first (the history id breaks a tie of dates).
_ROW_NUMBER = (
    'ROW_NUMBER() OVER (PARTITION BY "id" ORDER BY "history_date" DESC, "history_id" DESC)'
)


def _latest_sql(history, columns, where: str, params: list, at: datetime) -> tuple[str, list]:
    """The latest history row of each object up to `at` matching `where`, unless deleted."""
    qn = connection.ops.quote_name
    selected = ", ".join(qn(column) for column in columns)
    sql = (
        f"SELECT {selected} FROM (SELECT {selected}, {qn('history_type')}, "
        f"{_ROW_NUMBER} AS history_rank FROM {qn(history._meta.db_table)} "
        f"WHERE {qn('history_date')} <= %s AND ({where})) latest "
        f"WHERE history_rank = 1 AND {qn('history_type')} <> '-'"
    )
    return sql, [_db_instant(at), *params]


def _in(column: str, values: Iterable) -> tuple[str, list]:
    return _in_sql(connection.ops.quote_name(column), sorted(values))


def _in_sql(expression: str, values: list) -> tuple[str, list]:
    """`expression IN (...)`: one array parameter on PostgreSQL, placeholders elsewhere."""
    if not values:
        return "1 = 0", []
    if connection.vendor == "postgresql":
        return f"{expression} = ANY(%s)", [list(values)]
    return f"{expression} IN ({', '.join(['%s'] * len(values))})", list(values)


def _per_channel(column: str, values_by_channel: dict[str, list[str]]) -> tuple[str, list]:
    qn = connection.ops.quote_name
    parts, params = [], []
    for channel, values in values_by_channel.items():
        in_sql, in_params = _in_sql(qn(column), sorted(values))
        parts.append(f"({qn('channel')} = %s AND {in_sql})")
        params += [channel, *in_params]
    return " OR ".join(parts) or "1 = 0", params


@functools.cache
def _history(model):
    """The historical model (simple-history builds a manager on every `model.history`)."""
    return model.history.model


def _db_instant(at: datetime):
    return connection.ops.adapt_datetimefield_value(at)


def _aware(value):
    """A datetime column read by raw SQL: a string or naive UTC on SQLite, aware elsewhere."""
    if value is None:
        return None
    if isinstance(value, str):
        value = parse_datetime(value)
    return value.replace(tzinfo=UTC) if timezone.is_naive(value) else value
