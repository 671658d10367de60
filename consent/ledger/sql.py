"""Set-based verification on PostgreSQL: the same checks as `consent.ledger.verify`'s Python
walk, as a few statements that PostgreSQL runs over the whole chain (sha256() is built in since
PostgreSQL 11). The canonical text of a row (`canonical.field_text`) is rebuilt in SQL, the
address hash as HMAC-SHA256 from the keyed pads. tests/consent/ledger/test_verify.py runs both
paths on every tampering and requires the same answer.
"""

import hashlib
from collections.abc import Iterable

from django.conf import settings
from django.db import connections

from common.prepared import prepared_cursor
from consent.ledger.canonical import SEALED, SEALED_MODELS, SealedModel
from consent.models import LedgerEntry, LedgerHead
from consent.models.ledger import GENESIS_HASH

_INTEGER_TYPES = {
    "AutoField",
    "BigAutoField",
    "BigIntegerField",
    "ForeignKey",
    "IntegerField",
    "PositiveIntegerField",
    "PositiveSmallIntegerField",
    "SmallIntegerField",
}


def keyed_pads() -> tuple[bytes, bytes]:
    """HMAC-SHA256's inner and outer keyed pads (RFC 2104), as `address_hasher` derives them."""
    key = settings.SUPPRESSION_HASH_KEY.encode()
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    key = key.ljust(64, b"\0")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


def _text_sql(field, column: str) -> str:
    kind = field.get_internal_type()
    if kind == "DateTimeField":
        text = f"((EXTRACT(EPOCH FROM {column}) * 1000000)::bigint)::text"
    elif kind == "DateField":
        text = f"to_char({column}, 'YYYY-MM-DD')"
    elif kind == "BooleanField":
        text = f"CASE WHEN {column} THEN 't' ELSE 'f' END"
    elif kind in _INTEGER_TYPES:
        text = f"{column}::text"
    else:
        text = f"replace(replace({column}::text, '\\', '\\\\'), '|', '\\|')"
    return f"COALESCE({text}, '\\N')"


def digest_sql(sealed: SealedModel, qn, label: str = "label") -> str:
    fields = {field.attname: field for field in sealed.history._meta.concrete_fields}
    texts = [f"%({label})s"]
    for attname in sealed.columns:
        column = f"h.{qn(fields[attname].column)}"
        if attname == sealed.address:
            texts.append(
                "encode(sha256(%(outer)s::bytea || "
                f"sha256(%(inner)s::bytea || convert_to({column}, 'UTF8'))), 'hex')"
            )
        else:
            texts.append(_text_sql(fields[attname], column))
    return f"encode(sha256(convert_to(concat_ws('|', {', '.join(texts)}), 'UTF8')), 'hex')"


def _min(cursor, sql: str, params: dict) -> int | None:
    cursor.execute(sql, params)
    return cursor.fetchone()[0]


def first_bad_sealed_row(cursor, sealed: SealedModel, qn) -> int | None:
    """The first seal entry of `sealed` whose row's digest differs, or whose row is gone
    without a later erase entry."""
    entries = qn(LedgerEntry._meta.db_table)
    inner, outer = keyed_pads()
    sql = f"""
        SELECT MIN(e.sequence)
        FROM {entries} AS e
        LEFT JOIN {qn(sealed.history._meta.db_table)} AS h ON h.history_id = e.history_id
        WHERE e.model = %(label)s AND e.kind = 'seal'
          AND CASE WHEN h.history_id IS NULL THEN NOT EXISTS (
                  SELECT 1 FROM {entries} AS r
                  WHERE r.model = e.model AND r.kind = 'erase'
                    AND r.history_id = e.history_id AND r.sequence > e.sequence)
              ELSE {digest_sql(sealed, qn)} <> e.digest END
    """
    return _min(cursor, sql, {"label": sealed.label, "inner": inner, "outer": outer})


def first_bad_link(cursor, qn) -> int | None:
    """The first missing sequence, or entry whose hash or link to the previous one fails; and
    erase entries with a wrong digest, seal entries naming no sealed model."""
    entries = qn(LedgerEntry._meta.db_table)
    chain = f"""
        SELECT MIN(CASE WHEN sequence <> COALESCE(lag_sequence, 0) + 1
                        THEN COALESCE(lag_sequence, 0) + 1 ELSE sequence END)
        FROM (
            SELECT sequence, prev_hash, hash, digest,
                   lag(hash) OVER w AS lag_hash, lag(sequence) OVER w AS lag_sequence
            FROM {entries}
            WINDOW w AS (ORDER BY sequence)
        ) AS c
        WHERE sequence <> COALESCE(lag_sequence, 0) + 1
           OR prev_hash <> COALESCE(lag_hash, %(genesis)s)
           OR hash <> encode(sha256(convert_to(
                  prev_hash || ':' || sequence::text || ':' || digest, 'UTF8')), 'hex')
    """
    entry_kinds = f"""
        SELECT MIN(sequence) FROM {entries}
        WHERE (kind = 'erase' AND digest <> encode(sha256(convert_to(
                  'erase|' || model || '|' || history_id::text, 'UTF8')), 'hex'))
           OR (kind = 'seal' AND NOT model = ANY(%(labels)s))
           OR kind NOT IN ('seal', 'erase')
    """
    found = [
        _min(cursor, chain, {"genesis": GENESIS_HASH}),
        _min(cursor, entry_kinds, {"labels": list(SEALED)}),
    ]
    return min((s for s in found if s is not None), default=None)


def chain_summary(using: str) -> tuple[int | None, int, str]:
    """(first bad sequence or None, last sequence, last hash) of the chain as stored."""
    connection = connections[using]
    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        found = [first_bad_link(cursor, qn)]
        found += [first_bad_sealed_row(cursor, sealed, qn) for sealed in SEALED_MODELS]
        cursor.execute(
            f"SELECT sequence, hash FROM {qn(LedgerEntry._meta.db_table)} "
            "ORDER BY sequence DESC LIMIT 1"
        )
        last = cursor.fetchone() or (0, GENESIS_HASH)
    return min((s for s in found if s is not None), default=None), last[0], last[1]


def append_rows(ids: dict[str, list[int]], *, using: str) -> int | None:
    """Seal the given history rows of each table (those no entry seals yet) in one statement:
    lock the head, digest the rows, chain them (a recursive CTE, one step per row: meant for a
    service's few rows), insert the entries and move the head. The statement's snapshot
    predates the lock, which is right: the locked head is read in its latest version. None
    when there is no head row to lock.

    It is prepared (`common.prepared.prepared_cursor`) and always runs its generic plan:
    planning it took 0.7 ms, four times its execution, on every audited write. So the plan
    must not depend on the values: the rows are named by their exact ids (`= ANY`, primary-key
    look-ups) and "not sealed yet" is a correlated probe of the ledger's unique index per row
    (a NOT EXISTS became an anti-join reading every entry of the model: 52 ms at 60k
    entries)."""
    connection = connections[using]
    qn = connection.ops.quote_name
    entries, heads = qn(LedgerEntry._meta.db_table), qn(LedgerHead._meta.db_table)
    inner, outer = keyed_pads()
    params: dict = {"inner": inner, "outer": outer}
    parts = []
    for i, label in enumerate(sorted(ids)):
        sealed = SEALED[label]
        params[f"label{i}"], params[f"ids{i}"] = label, sorted(ids[label])
        parts.append(f"""
            SELECT %(label{i})s::text AS model, h.history_id,
                   {digest_sql(sealed, qn, label=f"label{i}")} AS digest
            FROM {qn(sealed.history._meta.db_table)} AS h
            WHERE h.history_id = ANY(%(ids{i})s::bigint[]) AND (
                SELECT 1 FROM {entries} AS e
                WHERE e.model = %(label{i})s AND e.kind = 'seal'
                  AND e.history_id = h.history_id LIMIT 1) IS NULL""")
    link = (
        "encode(sha256(convert_to({prev} || ':' || ({seq} + 1)::text || ':' || p.digest, "
        "'UTF8')), 'hex')"
    )
    union = " UNION ALL ".join(parts)
    sql = f"""
        WITH RECURSIVE head AS (
            SELECT sequence, hash FROM {heads} WHERE id = 1 FOR UPDATE
        ), pending AS (
            SELECT row_number() OVER (ORDER BY model COLLATE "C", history_id) AS n, *
            FROM ({union}) AS u
        ), chain AS (
            SELECT p.n, p.model, p.history_id, p.digest, head.sequence + 1 AS sequence,
                   head.hash::text AS prev_hash,
                   {link.format(prev="head.hash", seq="head.sequence")} AS hash
            FROM pending AS p CROSS JOIN head
            WHERE p.n = 1
            UNION ALL
            SELECT p.n, p.model, p.history_id, p.digest, c.sequence + 1, c.hash::text,
                   {link.format(prev="c.hash", seq="c.sequence")}
            FROM chain AS c JOIN pending AS p ON p.n = c.n + 1
        ), inserted AS (
            INSERT INTO {entries}
                (sequence, model, history_id, kind, digest, prev_hash, hash, sealed_at)
            SELECT sequence, model, history_id, 'seal', digest, prev_hash, hash, now()
            FROM chain
            RETURNING sequence, hash
        ), last AS (
            SELECT sequence, hash, (SELECT COUNT(*) FROM inserted) AS added
            FROM inserted ORDER BY sequence DESC LIMIT 1
        )
        UPDATE {heads} SET sequence = last.sequence, hash = last.hash
        FROM last WHERE {heads}.id = 1
        RETURNING last.added
    """
    with prepared_cursor(connection) as cursor:
        cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        cursor.execute(sql, params)
        row = cursor.fetchone()
        # An outer transaction may go on after this seal. (On an error the rollback to the
        # savepoint or of the transaction undoes the SET LOCAL.)
        cursor.execute("SET LOCAL plan_cache_mode = DEFAULT")
    if row is not None:
        return row[0]
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT 1 FROM {heads} WHERE id = 1")
        return 0 if cursor.fetchone() else None


def _in_batch(column: str) -> str:
    return f"{column} >= %(low)s AND (%(high)s::bigint IS NULL OR {column} < %(high)s)"


def unsealed_digests(
    sealed: SealedModel, *, low: int, limit: int, using: str
) -> tuple[list[tuple], int | None]:
    """(history_id, digest) of the unsealed rows among the next `limit` history rows from `low`,
    digested by PostgreSQL (the batched path: loads, sweeps, the demo seed, the backlog), and
    the `low` of the next batch (None after the last).

    Each batch is a range of ids found by the primary key, and the plan stays the same however
    stale the statistics are. Inside one bulk transaction — a million-row seed or load, its
    history and ledger rows not yet analyzed — a join plan here re-read the whole growing
    ledger and digested every row to the end of the table, for every batch. So whether any
    entry seals a row of the range is asked once (a range of the ledger's unique index): none,
    for the rows a bulk write just added, and every row of the range is digested without
    further test; otherwise "not sealed yet" is a correlated probe of that index per row (a
    probe per row cost about a quarter of the seal of a large load; excluding the sealed ids by
    value instead made a backlog among 6M sealed rows 2.4 times slower: 140 s against 58 s).
    """
    connection = connections[using]
    qn = connection.ops.quote_name
    history = qn(sealed.history._meta.db_table)
    entries = qn(LedgerEntry._meta.db_table)
    inner, outer = keyed_pads()
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT history_id FROM {history} WHERE history_id >= %s "
            "ORDER BY history_id OFFSET %s LIMIT 1",
            [low, limit],
        )
        found = cursor.fetchone()
        high = None if found is None else found[0]  # the next batch starts here
        params = {"label": sealed.label, "low": low, "high": high, "inner": inner, "outer": outer}
        # One statement, one snapshot: a writer committing rows and entries in this range
        # meanwhile is seen entirely or not at all. The uncorrelated NOT EXISTS runs once
        # (an InitPlan); when it holds, OR stops there and no row is probed.
        sql = f"""
            SELECT h.history_id, {digest_sql(sealed, qn)}
            FROM {history} AS h
            WHERE {_in_batch("h.history_id")}
              AND (NOT EXISTS (SELECT 1 FROM {entries} AS x
                               WHERE x.model = %(label)s AND x.kind = 'seal'
                                 AND {_in_batch("x.history_id")})
                   OR (SELECT 1 FROM {entries} AS e
                       WHERE e.model = %(label)s AND e.history_id = h.history_id
                         AND e.kind = 'seal' LIMIT 1) IS NULL)
            ORDER BY h.history_id
        """
        cursor.execute(sql, params)
        return cursor.fetchall(), high


COPY_COLUMNS = (
    "sequence",
    "model",
    "history_id",
    "kind",
    "digest",
    "prev_hash",
    "hash",
    "sealed_at",
)


def copy_entries(rows: Iterable[tuple], *, using: str) -> tuple:
    """Write entries (COPY_COLUMNS order) with COPY, streamed as `rows` yields them (a bulk
    seal writes millions); returns the last row written."""
    connection = connections[using]
    qn = connection.ops.quote_name
    columns = ", ".join(qn(name) for name in COPY_COLUMNS)
    row = ()
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {qn(LedgerEntry._meta.db_table)} ({columns}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(row)
    return row
