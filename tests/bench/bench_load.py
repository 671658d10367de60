"""Benchmark of the consent load (DESIGN §7: 1M CSV rows, history included, ≤ 3× COPY, ≤ 60 s).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/helper_d_bench DEBUG=true \\
        .venv/bin/python tests/bench/bench_load.py --rows 1000000 --reset

Generates a CSV of N rows (80 % purpose records, 20 % topic records; 70 % opt-ins), runs the
load on the configured database and times, as the floor, `COPY` of the same file into a bare
table (nine text columns, no index). Prints each figure, the floor and the ratio. Runs:

* `fresh`: every row is a new record (the table is emptied first with --reset);
* `again`: the same file once more: every row unchanged, nothing written;
* `dry run`: the preview of the same file.

It also times the **schema floor**: the same rows written by hand-written SQL alone (COPY into a
temp table, one sorted INSERT … SELECT into the records, one into their history, foreign keys
checked), rolled back — what any loader pays for the indexes and foreign keys of the two tables,
before validation, duplicates, stale checks or reporting.

--reset TRUNCATEs the contact-point consents and their history: scratch databases only.
"""

import argparse
import os
import random
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[2]
HEADER = "channel,value,purpose,topic,status,source,reason,captured_at,requested_by\n"


def setup_django() -> None:
    sys.path.insert(0, str(BASE_DIR))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DEBUG", "true")
    import django

    django.setup()


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
                f"email,Customer.{i}@Example{i % 97}.com,Commercial,{topic},{status},{source},"
                f"legacy CRM export,{moment},marketing team\n"
            )


def floor_copy(path: Path) -> float:
    """COPY of the same file into a bare table: the floor the load is measured against."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_load_floor")
        cursor.execute(
            "CREATE TABLE bench_load_floor (channel text, value text, purpose text, topic text, "
            "status text, source text, reason text, captured_at text, requested_by text)"
        )
        started = time.perf_counter()
        sql = "COPY bench_load_floor FROM STDIN WITH (FORMAT csv, HEADER true)"
        with cursor.cursor.copy(sql) as copy, path.open("rb") as data:
            while block := data.read(1 << 20):
                copy.write(block)
        elapsed = time.perf_counter() - started
        cursor.execute("DROP TABLE bench_load_floor")
    return elapsed


def schema_floor(path: Path, *, user) -> float:
    """The same rows straight into the two real tables, in SQL only; rolled back."""
    from django.db import connection, transaction

    from consent.models import ContactPointConsent, Purpose, Topic

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
        "history_user_id": str(user.pk),
        "history_source": "source",
    }
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # check the foreign keys before rollback
        cursor.execute(
            "CREATE TEMP TABLE bench_raw (channel text, value text, purpose text, topic text, "
            "status text, source text, reason text, captured_at text, requested_by text) "
            "ON COMMIT DROP"
        )
        sql = "COPY bench_raw FROM STDIN WITH (FORMAT csv, HEADER true)"
        with cursor.cursor.copy(sql) as copy, path.open("rb") as data:
            while block := data.read(1 << 20):
                copy.write(block)
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
            values.get(
                c, "NULL" if c.endswith("_id") or c in ("ip_address", "expires_at") else "''"
            )
            for c in columns
        )
        cursor.execute(
            f"INSERT INTO {cpc} ({', '.join(columns)}) SELECT {select} FROM bench_raw r "
            f"JOIN {Purpose._meta.db_table} p ON p.name = r.purpose "
            f"LEFT JOIN {Topic._meta.db_table} t ON t.purpose_id = p.id AND t.name = r.topic "
            'ORDER BY r.channel COLLATE "C", lower(r.value) COLLATE "C"'
        )
        cursor.execute(
            f"INSERT INTO {history} ({', '.join(history_columns)}) "
            f"SELECT {', '.join(special.get(c, c) for c in history_columns)} FROM {cpc}"
        )
        elapsed = time.perf_counter() - started
        transaction.set_rollback(True)
    return elapsed


def timed_load(path: Path, *, user, dry_run: bool = False):
    from consent.loads import consent_load_create, consent_load_run

    started = time.perf_counter()
    with path.open("rb") as file:
        load = consent_load_create(
            file=file, file_name=path.name, user=user, dry_run=dry_run, dispatch=False
        )
    stored = time.perf_counter() - started
    started = time.perf_counter()
    load = consent_load_run(load=load)
    return load, stored, time.perf_counter() - started


def prepare(reset: bool):
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection

    from consent.models import ComplianceProfile, ContactPointConsent, Topic

    call_command("migrate", verbosity=0)
    if reset:
        tables = [
            ContactPointConsent._meta.db_table,
            ContactPointConsent.history.model._meta.db_table,
        ]
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {', '.join(tables)}")
    elif ContactPointConsent.objects.exists():
        sys.exit("Contact-point consents exist: run on a scratch database with --reset.")
    commercial = ComplianceProfile.objects.default().purposes.get(name="Commercial")
    Topic.objects.get_or_create(purpose=commercial, name="Newsletter")
    user, _ = get_user_model().objects.get_or_create(username="bench-loader")
    return user


def report(name: str, load, stored: float, run: float, floor: float, cpu: float) -> None:
    ratio = run / floor
    print(
        f"{name:8} run {run:7.2f} s  (our CPU {cpu:6.2f} s; upload/store {stored:5.2f} s)  "
        f"floor {floor:5.2f} s  ratio {ratio:5.2f}×  status {load.status}  "
        f"written {load.counts['written']:,}  unchanged {load.counts['unchanged']:,}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--reset", action="store_true", help="TRUNCATE the consent tables first")
    options = parser.parse_args()
    setup_django()
    from django.db import connection

    if connection.vendor != "postgresql":
        sys.exit("The floor is a PostgreSQL COPY: set DATABASE_URL=postgres://…")
    user = prepare(options.reset)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"consents-{options.rows}.csv"
        generate(path, options.rows)
        size = path.stat().st_size / 2**20
        print(f"{options.rows:,} rows, {size:.0f} MiB, PostgreSQL {connection.pg_version}")
        floors = [floor_copy(path)]
        schema = schema_floor(path, user=user)
        print(f"schema floor {schema:.2f} s ({schema / floors[0]:.1f}× the COPY floor)")
        for name, dry_run in (("fresh", False), ("again", False), ("dry run", True)):
            cpu = time.process_time()
            load, stored, run = timed_load(path, user=user, dry_run=dry_run)
            cpu = time.process_time() - cpu
            floors.append(floor_copy(path))
            report(name, load, stored, run, min(floors), cpu)
    print(f"floor runs: {', '.join(f'{f:.2f}' for f in floors)} s (the lowest is used)")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak:.0f} MiB; load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
