"""The consent decision (DESIGN §3.4) for a stream of people in ONE statement (audiences).

`decide_members` takes a QuerySet of (id, address key, active) rows — the people of an audience
— and runs one SQL statement that joins to each row the facts `consent.decision` gathers for its
address: the non-anonymized leads and contacts holding it, folded least-permissive-wins, and the
effective status of the purpose and topic records. The facts come back packed into one small
integer per row (`code`), ordered by address, read in large batches from a server-side cursor.
Few distinct codes exist, so `evaluate()` — still the only place the rules live — runs once per
distinct code and a dict answers every other row.

Suppressions are an HMAC of the address computed in Python: the channel's hashes are read once
into a set when there are at most SUPPRESSIONS_IN_MEMORY of them, otherwise looked up per batch.
"""

import contextlib
import queue
import threading
from collections.abc import Callable, Iterator

from django.core.exceptions import EmptyResultSet
from django.db import connections, transaction
from django.db.models import QuerySet
from django.utils import timezone

from consent.addresses import address_hasher
from consent.decision.rules import (
    ALLOW_FIELDS,
    SUBJECT_CHANNEL_FIELD,
    AddressFacts,
    RecordFact,
    SubjectFacts,
    current_notices,
    evaluate,
)
from consent.models import ContactPointConsent, Purpose, Suppression, Topic
from subjects.models import Contact, DataProtectionConsent, Lead

BATCH_SIZE = 20_000
SUPPRESSIONS_IN_MEMORY = 200_000
LOOKUP_CHUNK = 500  # hashes per suppression query: within every backend's parameter limit
Status = ContactPointConsent.Status

# The packed facts of an address. Subjects: all zero when no non-anonymized subject holds it.
HOLDER, RESTRICTED = 1, 2
ALLOW_BITS = {name: 4 << index for index, name in enumerate(ALLOW_FIELDS)}  # 4 … 64
LEVEL_SHIFT = 7  # the lowest consent level, 0–5: three bits
# The effective status of the purpose record and of the topic record: two bits each.
PURPOSE_SHIFT, TOPIC_SHIFT = 10, 12
STATUS_CODES = {Status.NOT_SET: 0, Status.OPTED_IN: 1, Status.OPTED_OUT: 2}
STATUS_BY_CODE = {code: status for status, code in STATUS_CODES.items()}
SUPPRESSED = 1 << 14
# Rule 10a: the purpose / topic opt-in was given under an outdated notice.
PURPOSE_OUTDATED, TOPIC_OUTDATED = 1 << 15, 1 << 16

MemberDecision = tuple[int, str | None, bool, bool | None, str | None]


def decide_members(
    members: QuerySet,
    *,
    channel: str,
    purpose: Purpose,
    topic: Topic | None = None,
    batch_size: int | None = None,
) -> Iterator[list[MemberDecision]]:
    """Batches of (id, address, active, allowed, reason), ordered by address (nulls last), id.

    `members`: a values_list QuerySet of (id, address key, active), the address normalized for
    `channel` (lower-cased email, E.164 phone) or NULL. A row without an address or not active
    gets no decision (None, None). One statement, read batch by batch: memory stays flat.
    """
    connection = connections[members.db]
    try:
        sql, params = _statement(members, channel, purpose, topic, connection)
    except EmptyResultSet:  # e.g. `.none()` or `pk__in=[]`: no member, no statement
        return
    suppressions = _Suppressions(channel, connection.alias)
    decisions = _Decisions(channel, purpose, topic)
    for rows in _stream(connection, sql, params, batch_size or BATCH_SIZE):
        yield decisions.batch(rows, suppressions.among(rows))


def _stream(connection, sql: str, params, batch_size: int) -> Iterator[list[tuple]]:
    """The statement's rows, batch by batch, as the database produces them.

    On PostgreSQL, a server-side cursor outside a transaction is WITH HOLD: it runs the whole
    statement and stores its result before the first row comes back. Inside one, rows stream
    while the caller works on the previous batch (`_read_ahead`), and the connection stays
    usable between batches. Closing the iterator early commits: the caller's own writes
    meanwhile are kept.
    """
    with transaction.atomic(using=connection.alias), connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)

        def fetch() -> list[tuple]:
            return cursor.fetchmany(batch_size)

        # SQLite connections belong to the thread that opened them.
        batches = _read_ahead(fetch) if connection.vendor == "postgresql" else _read(fetch)
        try:
            yield from batches
        except GeneratorExit:
            batches.close()
            return


def _read(fetch: Callable[[], list]) -> Iterator[list]:
    while batch := fetch():
        yield batch


def _read_ahead(fetch: Callable[[], list]) -> Iterator[list]:
    """`fetch()` batches, one ahead, from a thread: PostgreSQL computes the next batch while the
    caller works on this one (psycopg waits on the socket without the GIL), so on two cores the
    database and Python overlap instead of taking turns. The connection is not used for
    anything else while a fetch runs (psycopg's connection lock would serialize it anyway)."""
    ready: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()

    def produce() -> None:
        try:
            while not stop.is_set():
                batch = fetch()
                ready.put(batch)
                if not batch:
                    return
        except BaseException as exc:  # handed to the caller's thread
            ready.put(exc)

    worker = threading.Thread(target=produce, name="audience-read-ahead", daemon=True)
    worker.start()
    try:
        while batch := ready.get():
            if isinstance(batch, BaseException):
                raise batch
            yield batch
    finally:
        stop.set()
        while worker.is_alive():  # a put() may wait on the full queue
            with contextlib.suppress(queue.Empty):
                ready.get(timeout=0.05)
        worker.join()


class _Decisions:
    """Packed facts → (allowed, reason), `evaluate()`d once per distinct code."""

    def __init__(self, channel: str, purpose: Purpose, topic: Topic | None):
        self.channel, self.purpose, self.topic = channel, purpose, topic
        self.cache: dict[int, tuple[bool, str]] = {}

    def batch(self, rows: list[tuple], suppressed: set[str]) -> list[MemberDecision]:
        cache, decided = self.cache, []
        for pk, address, active, code in rows:
            if address is None or not active:
                decided.append((pk, address, active, None, None))
                continue
            if suppressed and address in suppressed:
                code |= SUPPRESSED
            decision = cache.get(code)
            if decision is None:
                decision = cache[code] = self._evaluate(code)
            decided.append((pk, address, True, *decision))
        return decided

    def _evaluate(self, code: int) -> tuple[bool, str]:
        facts = unpack_facts(code, self.channel, self.purpose, self.topic)
        allowed, reason = evaluate(facts, self.purpose, self.topic)
        return allowed, str(reason)


def unpack_facts(code: int, channel: str, purpose: Purpose, topic: Topic | None) -> AddressFacts:
    """The AddressFacts a code stands for (its records carry no id: an audience lists none)."""
    subjects = None
    if code & HOLDER:
        subjects = SubjectFacts(
            restricted=bool(code & RESTRICTED),
            min_level=(code >> LEVEL_SHIFT) & 7,
            **{name: bool(code & bit) for name, bit in ALLOW_BITS.items()},
        )
    records = {
        (purpose.pk, None): RecordFact(
            0, STATUS_BY_CODE[(code >> PURPOSE_SHIFT) & 3], bool(code & PURPOSE_OUTDATED)
        )
    }
    if topic is not None:
        records[(purpose.pk, topic.pk)] = RecordFact(
            0, STATUS_BY_CODE[(code >> TOPIC_SHIFT) & 3], bool(code & TOPIC_OUTDATED)
        )
    return AddressFacts(
        channel, "", suppressed=bool(code & SUPPRESSED), subjects=subjects, records=records
    )


class _Suppressions:
    """The suppressed addresses of a batch: from a set in memory, or one lookup per batch."""

    def __init__(self, channel: str, using: str):
        self.stored = Suppression.objects.using(using).filter(channel=channel)
        hashes = list(
            self.stored.values_list("value_hash", flat=True)[: SUPPRESSIONS_IN_MEMORY + 1]
        )
        self.hashes = set(hashes) if len(hashes) <= SUPPRESSIONS_IN_MEMORY else None
        self.address_hash = address_hasher()

    def among(self, rows: list[tuple]) -> set[str]:
        if self.hashes is not None and not self.hashes:
            return set()  # nothing suppressed on this channel: no HMAC to compute
        by_hash, previous, address_hash = {}, None, self.address_hash
        for _, address, active, _ in rows:  # ordered by address: a repeat follows its first
            if address is not None and active and address != previous:
                by_hash[address_hash(address)] = previous = address
        if self.hashes is not None:
            return {address for value_hash, address in by_hash.items() if value_hash in self.hashes}
        return {by_hash[value_hash] for value_hash in self._lookup(list(by_hash))}

    def _lookup(self, hashes: list[str]) -> list[str]:
        found = []
        for start in range(0, len(hashes), LOOKUP_CHUNK):
            chunk = hashes[start : start + LOOKUP_CHUNK]
            found += self.stored.filter(value_hash__in=chunk).values_list("value_hash", flat=True)
        return found


# ---------------------------------------------------------------------------------------------
# The statement: members ⟕ subjects holding the address ⟕ the purpose / topic records


def _statement(members: QuerySet, channel: str, purpose: Purpose, topic, connection):
    members_sql, params = members.order_by().query.get_compiler(connection=connection).as_sql()
    ctes = [f"members (id, address, active) AS ({members_sql})"]
    joins, codes = [], []
    params = list(params)
    for name, (sql, part_params) in (
        ("holders", _holders(channel, connection)),
        ("records", _records(channel, purpose, topic, connection)),
    ):
        if sql is None:
            continue
        ctes.append(f"{name} (address, code) AS ({sql})")
        joins.append(f"LEFT JOIN {name} ON {name}.address = members.address")
        codes.append(f"COALESCE({name}.code, 0)")
        params += part_params
    sql = (
        f"WITH {', '.join(ctes)} "
        f"SELECT members.id, members.address, members.active, {' + '.join(codes)} "
        f"FROM members {' '.join(joins)} "
        "ORDER BY members.address NULLS LAST, members.id"
    )
    return sql, params


def _holders(channel: str, connection) -> tuple[str | None, list]:
    """Per address: the non-anonymized leads and contacts holding it, folded (rules 4–6)."""
    address_field = SUBJECT_CHANNEL_FIELD.get(channel)
    if address_field is None:
        return None, []  # custom channels: no subject holds such an address
    qn = connection.ops.quote_name
    key = f"LOWER({qn('email')})" if address_field == "email" else qn("phone")
    flags = [
        f"CASE WHEN {qn('restricted')} OR {qn('data_protection_consent')} = %s "
        "THEN 1 ELSE 0 END AS restricted",
        *(f"CASE WHEN {qn(name)} THEN 1 ELSE 0 END AS {name}" for name in ALLOW_FIELDS),
        f"{qn('consent_level')} AS consent_level",
    ]
    selects = [
        f"SELECT {key} AS address, {', '.join(flags)} FROM {qn(model._meta.db_table)} "
        f"WHERE {qn('anonymized_at')} IS NULL AND {qn(address_field)} IS NOT NULL"
        for model in (Contact, Lead)
    ]
    folded = " + ".join(
        [
            str(HOLDER),
            f"{RESTRICTED} * MAX(restricted)",
            *(f"{bit} * MIN({name})" for name, bit in ALLOW_BITS.items()),
            f"{1 << LEVEL_SHIFT} * MIN(consent_level)",
        ]
    )
    sql = f"SELECT address, {folded} FROM ({' UNION ALL '.join(selects)}) subject GROUP BY address"
    return sql, [DataProtectionConsent.RESTRICT] * len(selects)


def _records(channel: str, purpose: Purpose, topic: Topic | None, connection):
    """Per address: the effective status of the purpose and topic records (rules 7–11).

    At most one record per (address, purpose, topic), so the sum only places each status in
    its own bits. An opted-in record past its expiry reads as not set, as in `decision.py`.
    """
    qn = connection.ops.quote_name
    status, expires_at, topic_id = qn("status"), qn("expires_at"), qn("topic_id")
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    status_code = (
        f"CASE WHEN {status} = %s THEN {STATUS_CODES[Status.OPTED_OUT]} "
        f"WHEN {status} = %s AND ({expires_at} IS NULL OR {expires_at} > %s) "
        f"THEN {STATUS_CODES[Status.OPTED_IN]} ELSE 0 END"
    )
    place = f"CASE WHEN {topic_id} IS NULL THEN {1 << PURPOSE_SHIFT} ELSE {1 << TOPIC_SHIFT} END"
    outdated_sql, outdated_params = _outdated(purpose, now, connection)
    topic_match = f"{topic_id} IS NULL" + (f" OR {topic_id} = %s" if topic else "")
    sql = (
        f"SELECT {qn('value')}, SUM(({status_code}) * {place}{outdated_sql}) "
        f"FROM {qn(ContactPointConsent._meta.db_table)} "
        f"WHERE {qn('channel')} = %s AND {qn('purpose_id')} = %s AND ({topic_match}) "
        f"GROUP BY {qn('value')}"
    )
    params = [Status.OPTED_OUT, Status.OPTED_IN, now, *outdated_params, channel, purpose.pk]
    return sql, params + ([topic.pk] if topic else [])


def _outdated(purpose: Purpose, now, connection) -> tuple[str, list]:
    """Rule 10a's bits: an effective opt-in whose notice version is no longer current."""
    current = current_notices([purpose]).get(purpose.pk)
    if not current:
        return "", []
    qn = connection.ops.quote_name
    status, expires_at, topic_id = qn("status"), qn("expires_at"), qn("topic_id")
    versions = ", ".join(["%s"] * len(current))
    sql = (
        f" + CASE WHEN {status} = %s AND ({expires_at} IS NULL OR {expires_at} > %s) "
        f"AND {qn('notice_version')} NOT IN ({versions}) "
        f"THEN CASE WHEN {topic_id} IS NULL THEN {PURPOSE_OUTDATED} ELSE {TOPIC_OUTDATED} END "
        "ELSE 0 END"
    )
    return sql, [Status.OPTED_IN, now, *sorted(current)]
