"""Benchmark of the consent load (DESIGN §7: 1M CSV rows with history, ≤ 1.5× SQL, ≤ 60 s).

Run by `run.py --only load` after it has seeded the database (the BENCH_JSON convention of
README.md), or on its own against an already seeded benchmark database:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/consent_crm_bench_quick \\
        .venv/bin/python tests/bench/bench_load.py [--rows 100000] [--no-lower-bounds]

Generates a CSV of N rows (1,000,000 on the 1M database, else 100,000 unless --rows or
$BENCH_LOAD_ROWS says otherwise; 80 % purpose records, 20 % topic records, 70 % opt-ins,
mixed-case addresses that no seeded record has) and times, through the real services
(`consent_load_create` + `consent_load_run`, as the Celery job runs them):

* `fresh`: every row is a new record, written with its history row, into the seeded tables;
* `again`: the same file once more: every row unchanged, nothing written;
* `dry run`: the preview of the same file (after `fresh`: all unchanged).

The fresh load's floor (DESIGN §7, round 2) is the "schema and ledger" lower bound below: the
same rows written into the same tables by hand-written set-based SQL, with the ledger entries
that seal the history rows (DESIGN §7 counts them in the floor); bar ≤ 1.5× it, and ≤ 60 s at 1M
rows. The other rows are shown against `COPY` of the same file into a bare table (nine text
columns, no index, no constraint), timed before, between and after the loads; the lowest is
used.

The lower bounds (informational, skipped with `--no-lower-bounds`) time the same rows written
by hand-written SQL alone, with no validation, in four shapes (LOWER_BOUNDS): two bare tables;
the real tables with only the keys the design requires; the real tables as they are; and the
same with the ledger. They show what any loader pays for writing a record and its history row,
and what each index costs.

Everything the loads write (records, history, the loads themselves, a `Newsletter` topic if the
profile has none) happens inside one transaction that is rolled back, and a VACUUM of the two
tables afterwards gives back the space of the dead rows: the data is left as found. It never
seeds.
"""

import argparse
import logging
import os
import random
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parents[2])  # the repository root
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DEBUG", "true")  # the development secrets when run on its own

from tests.bench.database import require_postgres_url, vacuum_and_reindex  # noqa: E402

require_postgres_url()

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from consent.ledger.canonical import SEALED, entry_hash  # noqa: E402
from consent.ledger.sql import copy_entries, digest_sql, keyed_pads  # noqa: E402
from consent.loads.runner import consent_load_create, consent_load_run  # noqa: E402
from consent.models import (  # noqa: E402
    ComplianceProfile,
    ContactPointConsent,
    LedgerHead,
    Purpose,
    Topic,
)
from tests.bench.results import Figure, table, write_json  # noqa: E402

HEADER = "channel,value,purpose,topic,status,source,reason,captured_at,requested_by\n"
# DESIGN §7, round 2: against hand-written set-based SQL writing the same rows into the same
# tables (the "schema and ledger" lower bound); the ratio holds at any scale, 60 s at 1M rows.
BAR = "≤ 1.5× hand-written SQL writing the same rows (schema and ledger); ≤ 60 s (1M rows)"
BAR_FLOOR = "schema and ledger"
BAR_ROWS = 1_000_000
BAR_SECONDS = 60.0
BAR_RATIO = 1.5
DOMAIN = "bench-load"  # no seeded address uses it: `fresh` writes new records only


def generate(path: Path, rows: int, seed: int = 7) -> None:
    rnd = random.Random(seed)
    start = datetime(2023, 1, 1, tzinfo=UTC)
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(HEADER)
        for i in range(rows):
            topic = "Newsletter" if i % 5 == 0 else ""
            status = "opted_in" if rnd.random() < 0.7 else "opted_out"
            source = "form" if i % 3 == 0 else ""
            moment = (start + timedelta(seconds=rnd.randrange(40_000_000))).isoformat()
            out.write(
                f"email,Customer.{i}@{DOMAIN}{i % 97}.Example.com,Commercial,{topic},{status},"
                f"{source},legacy CRM export,{moment},marketing team\n"
            )


def floor_copy(path: Path) -> float:
    """COPY of the same file into a bare table: the floor the load is measured against."""
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_load_floor")
        cursor.execute(
            "CREATE TABLE bench_load_floor (channel text, value text, purpose text, topic text, "
            "status text, source text, reason text, captured_at text, requested_by text)"
        )
        try:
            started = time.perf_counter()
            sql = "COPY bench_load_floor FROM STDIN WITH (FORMAT csv, HEADER true)"
            with cursor.cursor.copy(sql) as copy, path.open("rb") as data:
                while block := data.read(1 << 20):
                    copy.write(block)
            return time.perf_counter() - started
        finally:
            cursor.execute("DROP TABLE bench_load_floor")


LOWER_BOUNDS = {
    "rows copied": "COPY of the finished record and history rows into two bare tables (no "
    "parsing, no lookup, no index): writing the rows alone",
    "rows only": "COPY of the file, then one INSERT of the records feeding their history rows, "
    "into two bare tables (no index, no constraint)",
    "required keys": "the same into the real tables with only the keys the design requires: "
    "primary keys, one unique key per (channel, value, purpose, topic)",
    "schema as is": "the same into the real tables with all their indexes and foreign keys",
    "schema and ledger": "the same, and a ledger entry sealing each history row: the digests "
    "computed by PostgreSQL in one statement, chained in Python (SHA-256 is sequential), "
    "written with one COPY into the real ledger table, the head moved",
}


def lower_bounds(path: Path, *, user_id: int) -> dict[str, float]:
    """What any loader pays to write the same rows, without any validation: COPY of the file
    into a temp table, then one `WITH w AS (INSERT records … RETURNING *) INSERT history …
    FROM w` statement, for each entry of LOWER_BOUNDS; the last also seals the history rows
    (`_seal_new_history`), as DESIGN §7 counts the ledger's entries in the floor. The untimed
    DDL that sets each one up (bare copies of the tables, dropped indexes and foreign keys, the
    single unique key) and the rows happen in a savepoint that is rolled back."""
    bounds = {"rows copied": _rows_copied(path, user_id=user_id)}
    for name in LOWER_BOUNDS:
        if name not in bounds:
            bounds[name] = _sql_load(path, user_id=user_id, shape=name)
    return bounds


def _rows_copied(path: Path, *, user_id: int) -> float:
    """COPY of the finished rows into two bare tables: the statement of "rows only" makes them
    (untimed), they are copied out to files and the tables emptied, then only the two
    `COPY … FROM` are timed."""
    cpc = ContactPointConsent._meta.db_table
    history = ContactPointConsent.history.model._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        _sql_load(path, user_id=user_id, shape="rows only", keep=True)
        files = {}
        for table in (cpc, history):
            files[table] = path.with_name(f"{table}.copy")
            sql = f"COPY bench_bare_{table} TO STDOUT"
            with cursor.cursor.copy(sql) as copy, files[table].open("wb") as out:
                for block in copy:
                    out.write(block)
            cursor.execute(f"TRUNCATE bench_bare_{table}")
        started = time.perf_counter()
        for table, file in files.items():
            sql = f"COPY bench_bare_{table} FROM STDIN"
            with cursor.cursor.copy(sql) as copy, file.open("rb") as data:
                while block := data.read(1 << 20):
                    copy.write(block)
        elapsed = time.perf_counter() - started
        for file in files.values():
            file.unlink()
        transaction.set_rollback(True)
    return elapsed


def _sql_load(path: Path, *, user_id: int, shape: str, keep: bool = False) -> float:
    """`keep`: leave the rows in the caller's transaction (no savepoint rollback)."""
    cpc = ContactPointConsent._meta.db_table
    history = ContactPointConsent.history.model._meta.db_table
    columns = [f.column for f in ContactPointConsent._meta.concrete_fields if f.column != "id"]
    history_columns = [
        f.column
        for f in ContactPointConsent.history.model._meta.concrete_fields
        if f.column != "history_id"
    ]
    special = {
        "history_date": "now()",
        "history_change_reason": "'bench'",
        "history_type": "'+'",
        "history_user_id": str(user_id),
        "history_source": "source",
    }
    values = {
        "channel": "r.channel",
        "value": "lower(r.value)",
        "purpose_id": "p.id",
        "topic_id": "t.id",
        "status": "r.status",
        "source": "coalesce(nullif(r.source, ''), 'loaded')",
        "reason": "r.reason",
        "requested_by": "r.requested_by",
        "captured_at": "r.captured_at::timestamptz",
        "created_at": "now()",
        "updated_at": "now()",
    }
    select = ", ".join(
        values.get(c, "NULL" if c.endswith("_id") or c in ("ip_address", "expires_at") else "''")
        for c in columns
    )
    profile = ComplianceProfile.objects.default()
    with transaction.atomic(), connection.cursor() as cursor:
        cpc, history = _shape_tables(cursor, shape, cpc, history)
        cursor.execute(f"SELECT COALESCE(MAX(history_id), 0) FROM {history}")
        last_history_id = cursor.fetchone()[0]
        cursor.execute("SET LOCAL work_mem = '256MB'")  # as the load sets it: sorts in memory
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # check the foreign keys before rollback
        started = time.perf_counter()
        cursor.execute(
            "CREATE TEMP TABLE bench_raw (channel text, value text, purpose text, topic text, "
            "status text, source text, reason text, captured_at text, requested_by text)"
        )
        sql = "COPY bench_raw FROM STDIN WITH (FORMAT csv, HEADER true)"
        with cursor.cursor.copy(sql) as copy, path.open("rb") as data:
            while block := data.read(1 << 20):
                copy.write(block)
        cursor.execute(
            f"WITH w AS (INSERT INTO {cpc} ({', '.join(columns)}) SELECT {select} FROM bench_raw r "
            f"JOIN {Purpose._meta.db_table} p ON p.name = r.purpose AND p.profile_id = %s "
            f"LEFT JOIN {Topic._meta.db_table} t ON t.purpose_id = p.id AND t.name = r.topic "
            'ORDER BY r.channel COLLATE "C", lower(r.value) COLLATE "C" RETURNING *) '
            f"INSERT INTO {history} ({', '.join(history_columns)}) "
            f"SELECT {', '.join(special.get(c, c) for c in history_columns)} FROM w",
            [profile.pk],
        )
        written = cursor.rowcount
        if written != _rows_in(path):
            raise RuntimeError(f"{shape}: wrote {written} history rows")
        if shape == "schema and ledger":
            sealed = _seal_new_history(cursor, history, after=last_history_id)
            if sealed != written:
                raise RuntimeError(f"{shape}: sealed {sealed} of {written} history rows")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        elapsed = time.perf_counter() - started
        cursor.execute("DROP TABLE bench_raw")
        transaction.set_rollback(not keep)
    return elapsed


def _seal_new_history(cursor, history: str, *, after: int) -> int:
    """The ledger's part of the floor: lock the head, digest the history rows above `after` in
    one statement (the canonical text `consent.ledger.sql` rebuilds in SQL), chain them in
    Python into one COPY of the entries (streamed: the script's peak memory stays the
    load's); move the head. Returns the entries written."""
    sealed = SEALED[ContactPointConsent.history.model._meta.label_lower]
    label, qn = sealed.label, connection.ops.quote_name
    inner, outer = keyed_pads()
    head = LedgerHead._meta.db_table
    cursor.execute(f"SELECT sequence, hash FROM {head} WHERE id = 1 FOR UPDATE")
    sequence, prev_hash = cursor.fetchone()
    cursor.execute(
        f"SELECT h.history_id, {digest_sql(sealed, qn)} FROM {history} AS h "
        "WHERE h.history_id > %(after)s ORDER BY h.history_id",
        {"label": label, "inner": inner, "outer": outer, "after": after},
    )
    now, first = timezone.now(), sequence

    def entries():
        nonlocal sequence, prev_hash
        while rows := cursor.fetchmany(50_000):
            for history_id, digest in rows:
                sequence += 1
                current = entry_hash(prev_hash, sequence, digest)
                yield sequence, label, history_id, "seal", digest, prev_hash, current, now
                prev_hash = current

    copy_entries(entries(), using=connection.alias)
    cursor.execute(
        f"UPDATE {head} SET sequence = %s, hash = %s WHERE id = 1", [sequence, prev_hash]
    )
    return sequence - first


def _rows_in(path: Path) -> int:
    with path.open("rb") as data:
        return sum(block.count(b"\n") for block in iter(lambda: data.read(1 << 20), b"")) - 1


def _shape_tables(cursor, shape: str, cpc: str, history: str) -> tuple[str, str]:
    """Untimed DDL inside the caller's savepoint; the tables the timed statement writes."""
    if shape == "rows only":
        for table in (cpc, history):
            cursor.execute(
                f"CREATE TABLE bench_bare_{table} (LIKE {table} INCLUDING DEFAULTS "
                "INCLUDING IDENTITY)"
            )
        return f"bench_bare_{cpc}", f"bench_bare_{history}"
    if shape == "required keys":
        for table in (cpc, history):
            cursor.execute(
                "SELECT c.conname FROM pg_constraint c WHERE c.conrelid = %s::regclass "
                "AND c.contype IN ('f', 'u')",
                [table],
            )
            for (name,) in cursor.fetchall():
                cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
            cursor.execute(
                "SELECT i.indexrelid::regclass::text FROM pg_index i "
                "WHERE i.indrelid = %s::regclass AND NOT i.indisprimary AND NOT EXISTS ("
                "SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)",
                [table],
            )
            for (name,) in cursor.fetchall():
                cursor.execute(f"DROP INDEX {name}")
        cursor.execute(
            f"CREATE UNIQUE INDEX bench_one_record_key ON {cpc} "
            "(channel, value, purpose_id, COALESCE(topic_id, 0))"
        )
    return cpc, history


class _Phases(logging.Handler):
    """Collects the phase timings consent.loads logs at the end of a run."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.last = ""

    def emit(self, record):
        if getattr(record, "phases", None):
            self.last = record.phases


def timed_load(path: Path, *, user, dry_run: bool = False):
    started = time.perf_counter()
    with path.open("rb") as file:
        load = consent_load_create(
            file=file, file_name=path.name, user=user, dry_run=dry_run, dispatch=False
        )
    stored = time.perf_counter() - started
    cpu = time.process_time()
    started = time.perf_counter()
    load = consent_load_run(load=load)
    with connection.cursor() as cursor:
        # The outer transaction is rolled back, never committed: fire the deferred foreign-key
        # checks a real load pays at its commit, inside the timing.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    return load, stored, time.perf_counter() - started, time.process_time() - cpu


def vacuum() -> None:
    """The rolled-back loads left millions of dead rows in both tables and their indexes."""
    tables = [
        ContactPointConsent._meta.db_table,
        ContactPointConsent.history.model._meta.db_table,
    ]
    print(f"VACUUM and REINDEX of the two tables: {vacuum_and_reindex(tables):.1f} s (not timed)")


def rows_wanted(argument: int | None) -> int:
    if argument:
        return argument
    if os.environ.get("BENCH_LOAD_ROWS"):
        return int(os.environ["BENCH_LOAD_ROWS"])
    contacts = int(os.environ.get("BENCH_CONTACTS") or 0)
    return BAR_ROWS if contacts >= BAR_ROWS else 100_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument(
        "--no-lower-bounds", action="store_true", help="Skip the hand-written SQL lower bounds."
    )
    options = parser.parse_args()
    settings.DEBUG = False
    rows = rows_wanted(options.rows)
    phases = _Phases()
    logging.getLogger("consent.loads").addHandler(phases)
    logging.getLogger("consent.loads").setLevel(logging.INFO)
    profile = ComplianceProfile.objects.default()
    if not profile.purposes.filter(name="Commercial").exists():
        sys.exit("The default profile has no purpose Commercial: is the database seeded?")
    figures: list[Figure] = []
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"consents-{rows}.csv"
        generate(path, rows)
        size = path.stat().st_size / 2**20
        print(f"{rows:,} rows, {size:.0f} MiB, PostgreSQL {connection.pg_version}", flush=True)
        floors = [floor_copy(path)]
        with transaction.atomic():
            commercial = profile.purposes.get(name="Commercial")
            Topic.objects.get_or_create(purpose=commercial, name="Newsletter")
            user, _ = get_user_model().objects.get_or_create(username="bench-loader")
            bounds = {} if options.no_lower_bounds else lower_bounds(path, user_id=user.pk)
            for name, dry_run in (("fresh", False), ("again", False), ("dry run", True)):
                load, stored, run, cpu = timed_load(path, user=user, dry_run=dry_run)
                peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                results[name] = (load, stored, run, cpu, peak, phases.last)
                floors.append(floor_copy(path))
                print(
                    f"{name:8} run {run:7.2f} s (our CPU {cpu:6.2f} s; upload/store "
                    f"{stored:5.2f} s) status {load.status} written {load.counts['written']:,} "
                    f"unchanged {load.counts['unchanged']:,}; peak RSS {peak:.0f} MiB\n"
                    f"         phases {phases.last}",
                    flush=True,
                )
            transaction.set_rollback(True)  # leave the seeded data as found
        vacuum()
    floor = min(floors)
    print(f"COPY floor runs: {', '.join(f'{f:.2f}' for f in floors)} s (the lowest is used)")
    at_scale = rows >= BAR_ROWS
    for name, (load, stored, run, cpu, _peak, phase_text) in results.items():
        expected = {"fresh": rows, "again": 0, "dry run": 0}[name]
        correct = load.counts["written"] == expected and load.status in ("done", "previewed")
        passed = None
        figure_floor = floor
        if name == "fresh":
            total = stored + run
            figure_floor = bounds.get(BAR_FLOOR)
            if figure_floor is None:  # --no-lower-bounds: no floor to hold the ratio to
                passed = total <= BAR_SECONDS if at_scale else None
            else:
                passed = total / figure_floor <= BAR_RATIO
                passed = passed and (total <= BAR_SECONDS or not at_scale)
            passed = False if not correct else passed
        note = (
            f"{load.status}, written {load.counts['written']:,}, unchanged "
            f"{load.counts['unchanged']:,}; store {stored:.1f} s + run {run:.1f} s "
            f"(our CPU {cpu:.1f} s): {phase_text}"
        )
        if name == "fresh":
            note += f"; floor: the lower bound '{BAR_FLOOR}'; COPY of the file {floor:.2f} s"
            if not at_scale:
                note += f"; 60 s applies at {BAR_ROWS:,} rows"
        figures.append(
            Figure(
                f"consent load {name}, {rows:,} CSV rows"
                + (", history" if name == "fresh" else ""),
                stored + run,  # the upload (stored in chunks) is part of a load
                figure_floor,
                BAR if name == "fresh" else "info",
                passed if correct or name == "fresh" else False,
                unit="s",
                note=note,
            )
        )
    peak = max(result[4] for result in results.values())
    figures.append(
        Figure("consent load peak RSS", peak, None, "info", None, unit="MiB", note="whole script")
    )
    for name, seconds in bounds.items():
        figures.append(
            Figure(
                f"consent load lower bound, {name}, {rows:,} rows",
                seconds,
                floor,
                "info",
                None,
                unit="s",
                note=f"hand-written SQL, no validation: {LOWER_BOUNDS[name]}",
            )
        )
    print(table(figures))
    write_json(figures)


if __name__ == "__main__":
    main()
