"""Staging and planning: rows go into a staging table (PostgreSQL: COPY into a temp table), then
one set-based query classifies every row (in-file duplicates, suppressed opt-ins, stale,
unchanged, new opt-ins / opt-outs / other changes).
"""

from datetime import datetime

from django.db import DatabaseError, connection, transaction

from consent.loads.report import error_entry
from consent.loads.rows import StagedRow
from consent.models import (
    ContactPointConsent,
    Suppression,
)

TEMP_BUFFERS = "256MB"  # PostgreSQL: the session's temp buffers for the staging tables


SUPPRESSED_NOTE = (
    "This address is suppressed (its owner was erased after opting out): a load writes nothing "
    "for it."
)


STAGE = "consent_load_stage"


PLAN = "consent_load_plan"


_STAGE_COLUMNS = (
    "line INTEGER NOT NULL, channel VARCHAR(6) NOT NULL, value VARCHAR(254) NOT NULL, "
    "value_hash VARCHAR(64), purpose_id BIGINT NOT NULL, topic_id BIGINT, "
    "status VARCHAR(9) NOT NULL, source VARCHAR(32) NOT NULL, reason VARCHAR(200) NOT NULL, "
    "requested_by VARCHAR(200) NOT NULL, captured_us BIGINT NOT NULL, "
    "captured_given BOOLEAN NOT NULL"
)


# Evidence a load writes besides the row's own columns (see the module docstring).
_LOADED_EVIDENCE = (
    "c.reason_description = '' AND c.captured_by_id IS NULL AND c.ip_address IS NULL "
    "AND c.user_agent = '' AND c.notice_version = '' AND c.expires_at IS NULL"
)


# One classification per staged row; the first matching rule wins. Duplicates of a key: the
# latest captured_at wins (the later line on a tie), the others point at the winner's line. A
# suppressed row (any status: an erased address is never written again) is counted as such.
_PLAN_SQL = f"""
CREATE TEMP TABLE {PLAN} AS
SELECT r.line, r.channel, r.value, r.purpose_id, r.topic_id, r.status, r.source, r.reason,
       r.requested_by, r.captured_us, r.winner_line, c.id AS existing_id,
  CASE
    WHEN r.suppressed = 1 THEN 'suppressed'
    WHEN r.rn > 1 THEN 'duplicate'
    WHEN c.id IS NULL THEN
      CASE r.status WHEN 'opted_in' THEN 'opt_in' WHEN 'opted_out' THEN 'opt_out'
      ELSE 'other_change' END
    WHEN {{captured}} < c.captured_at THEN 'stale'
    WHEN c.status = r.status AND c.source = r.source AND c.reason = r.reason
      AND c.requested_by = r.requested_by AND {_LOADED_EVIDENCE}
      AND (NOT r.captured_given OR {{captured}} = c.captured_at) THEN 'unchanged'
    WHEN r.status = 'opted_in'
      AND (c.status <> 'opted_in' OR c.expires_at <= %(now)s) THEN 'opt_in'
    WHEN r.status = 'opted_out' AND c.status <> 'opted_out' THEN 'opt_out'
    ELSE 'other_change'
  END AS outcome
FROM (
  SELECT s.*, {{ranking}}
  FROM (
    SELECT s.*, CASE WHEN EXISTS (
      SELECT 1 FROM {Suppression._meta.db_table} x
      WHERE x.channel = s.channel AND x.value_hash = s.value_hash) THEN 1 ELSE 0 END
      AS suppressed
    FROM {STAGE} s
  ) s
  {{window}}
) r
LEFT JOIN {ContactPointConsent._meta.db_table} c
  ON c.channel = r.channel AND c.value = r.value AND c.purpose_id = r.purpose_id
  AND (c.topic_id = r.topic_id OR (c.topic_id IS NULL AND r.topic_id IS NULL))
"""


# The duplicates' ranking; without duplicates in the file (the common case) every row is its
# key's only row, and the sort of a million wide rows the window needs is skipped.
_RANKED = {
    True: (
        "ROW_NUMBER() OVER w AS rn, FIRST_VALUE(s.line) OVER w AS winner_line",
        "WINDOW w AS (PARTITION BY s.channel{binary}, s.value{binary}, s.purpose_id, "
        "s.topic_id ORDER BY s.suppressed, s.captured_us DESC, s.line DESC)",
    ),
    False: ("1 AS rn, s.line AS winner_line", ""),
}


_HAS_DUPLICATES_SQL = (
    f"SELECT EXISTS (SELECT 1 FROM {STAGE} GROUP BY channel, value, purpose_id, topic_id "
    "HAVING COUNT(*) > 1)"
)


def _binary(vendor: str) -> str:
    """Byte-order comparison of text (SQLite compares bytes already)."""
    return ' COLLATE "C"' if vendor == "postgresql" else ""


def captured_sql(vendor: str, alias: str) -> str:
    """A staged row's moment as the backend stores a DateTimeField, exact to the microsecond."""
    us = f"{alias}.captured_us"
    if vendor == "postgresql":
        return f"(TIMESTAMPTZ 'epoch' + {us} * INTERVAL '1 microsecond')"
    # Django stores SQLite datetimes as str(naive UTC datetime): "YYYY-MM-DD HH:MM:SS[.ffffff]".
    return (
        f"(strftime('%%Y-%%m-%%d %%H:%%M:%%S', {us} / 1000000, 'unixepoch') || "
        f"CASE WHEN {us} %% 1000000 = 0 THEN '' ELSE printf('.%%06d', {us} %% 1000000) END)"
    )


class Stage:
    """The staging and plan temp tables of one run, on the default connection."""

    def __init__(self, now: datetime):
        self.vendor = connection.vendor
        self.now = now
        self.postgres = self.vendor == "postgresql"
        # Hashes of the rows' keys (channel, value, purpose, topic): when no two collide the
        # file has no duplicates and the plan skips asking (a GROUP BY over every staged row,
        # 0.85 s at 1M rows); a collision only means "ask".
        self._key_hashes: set[int] = set()
        self._maybe_duplicates = False

    def __enter__(self) -> "Stage":
        with connection.cursor() as cursor:
            if self.postgres:
                _temp_buffers(cursor)
            self._drop(cursor)
            cursor.execute(f"CREATE TEMP TABLE {STAGE} ({_STAGE_COLUMNS})")
            if self.postgres:
                # Sorts and hashes of a million rows in memory; no JIT: compiling the plan of
                # these one-off statements costs seconds and saves nothing.
                cursor.execute("SET work_mem = '256MB'")
                cursor.execute("SET jit = off")
        return self

    def __exit__(self, *exc_info) -> None:
        with connection.cursor() as cursor:
            self._drop(cursor)
            if self.postgres:
                cursor.execute("RESET work_mem")
                cursor.execute("RESET jit")

    def _drop(self, cursor) -> None:
        for table in (PLAN, STAGE):
            cursor.execute(f"DROP TABLE IF EXISTS {table}")

    def add(self, rows: list[StagedRow]) -> None:
        if not self._maybe_duplicates:
            seen, before = self._key_hashes, len(self._key_hashes)
            seen.update([hash((row[1], row[2], row[4], row[5])) for row in rows])
            self._maybe_duplicates = len(seen) - before < len(rows)
            if self._maybe_duplicates:
                self._key_hashes = set()  # no longer needed: the plan asks the database
        with connection.cursor() as cursor:
            if self.postgres:
                self._copy(cursor, rows)
            else:
                marks = ", ".join(["%s"] * 12)
                cursor.executemany(f"INSERT INTO {STAGE} VALUES ({marks})", rows)

    def _copy(self, cursor, rows: list[StagedRow]) -> None:
        # Text format, each row formatted by psycopg's C dumpers: a quarter of the CPU that
        # Python's csv writer took for the same rows.
        with cursor.cursor.copy(f"COPY {STAGE} FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def plan(self) -> None:
        with connection.cursor() as cursor:
            if self.postgres:
                cursor.execute(f"ANALYZE {STAGE}")  # autovacuum never analyzes temp tables
                # Text sorts in the database's collation (strcoll) cost seconds per million
                # rows: group in byte order, and join by hash or index, never by merge.
                cursor.execute("SET enable_mergejoin = off")
            duplicates = False
            if self._maybe_duplicates:
                cursor.execute(_HAS_DUPLICATES_SQL)
                duplicates = bool(cursor.fetchone()[0])
            ranking, window = _RANKED[duplicates]
            binary = _binary(self.vendor)
            sql = _PLAN_SQL.format(
                captured=captured_sql(self.vendor, "r"),
                ranking=ranking,
                window=window.format(binary=binary),
            )
            cursor.execute(sql, {"now": self._db_datetime(self.now)})
            if self.postgres:
                cursor.execute("RESET enable_mergejoin")

    def outcome_counts(self) -> dict[str, int]:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT outcome, COUNT(*) FROM {PLAN} GROUP BY outcome")
            return dict(cursor.fetchall())

    def notes(self, limit: int, *, lines: bool) -> list[dict]:
        """The first duplicates and suppressed rows, as row-error entries (`lines`: the file's
        line numbers; the rows of the migration mode have none)."""
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT line, outcome, winner_line FROM {PLAN} "
                "WHERE outcome IN ('duplicate', 'suppressed') ORDER BY line LIMIT %s",
                [limit],
            )
            return [_note(*row, lines=lines) for row in cursor.fetchall()]

    def _db_datetime(self, moment: datetime):
        return connection.ops.adapt_datetimefield_value(moment)


def _temp_buffers(cursor) -> None:
    """Room for the staging and plan tables (~200 bytes a row each) in the session's temp
    buffers, instead of 8 MB by default. PostgreSQL only accepts it before the session's first
    temp table: a session that ran a load already keeps what it has. The memory is taken as
    the tables grow and stays with the session."""
    try:
        with transaction.atomic():
            cursor.execute(f"SET temp_buffers = '{TEMP_BUFFERS}'")
    except DatabaseError:
        pass


def _note(line: int, outcome: str, winner_line: int, *, lines: bool) -> dict:
    if outcome == "suppressed":
        return error_entry(line if lines else None, "value", SUPPRESSED_NOTE, "suppressed")
    winner = f"line {winner_line}" if lines else "another row"
    return error_entry(
        line if lines else None,
        "captured_at",
        f"Duplicate of {winner} (same channel, value, purpose and topic): the row with the "
        "latest captured_at wins.",
        "duplicate",
    )
