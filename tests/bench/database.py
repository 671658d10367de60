"""The benchmark database: created if missing, migrated, seeded once per size (a marker).

Safety first: the harness only ever seeds, resets or drops a database that is empty or carries
its own marker. A database holding other data (someone's DATABASE_URL left pointing at a
development database) is refused, never touched.
"""

import os
import sys
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

MARKER_TABLE = "bench_seed_marker"
POSTGRES_SCHEMES = ("postgres", "postgresql", "pgsql")


class BenchDatabaseError(SystemExit):
    pass


def require_postgres_url() -> str:
    url = os.environ.get("DATABASE_URL", "")
    if urlsplit(url).scheme not in POSTGRES_SCHEMES:
        raise BenchDatabaseError(
            "The benchmarks measure DESIGN §7 on PostgreSQL and refuse to run on SQLite.\n"
            "Set DATABASE_URL, e.g. "
            "DATABASE_URL=postgres://postgres@127.0.0.1:5432/consent_crm_bench "
            "(or run `make bench` / `make bench-quick`)."
        )
    return url


def _libpq_url(url: str, *, database: str | None = None) -> tuple[str, str]:
    """(connection string for psycopg, database name)."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    scheme = "postgresql"
    path = f"/{database}" if database is not None else parts.path
    return urlunsplit((scheme, parts.netloc, path, parts.query, parts.fragment)), name


def ensure_exists(url: str) -> bool:
    """Create the database if it does not exist; True when it was created."""
    maintenance, name = _libpq_url(url, database="postgres")
    with psycopg.connect(maintenance, autocommit=True) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if found:
            return False
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return True


def drop_and_create(url: str) -> None:
    maintenance, name = _libpq_url(url, database="postgres")
    with psycopg.connect(maintenance, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


# ---------------------------------------------------------------------------------------------
# Inside Django (after django.setup())


def marker() -> dict | None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [MARKER_TABLE])
        if cursor.fetchone()[0] is None:
            return None
        cursor.execute(f"SELECT contacts, seed, seed_version, seeded_at FROM {MARKER_TABLE}")
        row = cursor.fetchone()
    if row is None:
        return None
    return dict(zip(("contacts", "seed", "seed_version", "seeded_at"), row, strict=True))


def write_marker(*, contacts: int, seed: int, seed_version: int) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE IF NOT EXISTS {MARKER_TABLE} (contacts integer NOT NULL, "
            "seed integer NOT NULL, seed_version integer NOT NULL, seeded_at timestamptz "
            "NOT NULL DEFAULT now())"
        )
        cursor.execute(f"DELETE FROM {MARKER_TABLE}")
        cursor.execute(
            f"INSERT INTO {MARKER_TABLE} (contacts, seed, seed_version) VALUES (%s, %s, %s)",
            [contacts, seed, seed_version],
        )


def holds_data() -> bool:
    from subjects.models import Contact, Lead

    return Contact.objects.exists() or Lead.objects.exists()


def vacuum_analyze() -> None:
    """Visibility map and statistics as a production database would have them."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE)")


def vacuum_and_reindex(tables: list[str]) -> float:
    """After rolled-back bulk writes: VACUUM gives the tables' space back (it truncates the
    empty tail), but an index keeps the pages its dead entries filled — after a few runs the
    records' indexes were three times their size and the audience figure, which reads them,
    15 % slower. REINDEX rebuilds them: the next figure starts from the data set as seeded.
    Returns the seconds it took (not part of any figure)."""
    import time

    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM (ANALYZE) {', '.join(tables)}")
        for table in tables:
            cursor.execute(f"REINDEX TABLE {table}")
    return time.perf_counter() - started


def prepare(url: str, *, contacts: int, seed: int, reseed: bool, log=print) -> dict:
    """Migrate, then seed unless the marker says this exact data set is already there.

    Returns the marker. Seeding a database that holds data without the marker is refused.
    """
    from django.core.management import call_command
    from django.db import connection

    from demo.seed import SEED_VERSION

    call_command("migrate", verbosity=0, interactive=False)
    wanted = {"contacts": contacts, "seed": seed, "seed_version": SEED_VERSION}
    current = marker()
    if current and not reseed and all(current[k] == v for k, v in wanted.items()):
        log(f"Reusing the data set seeded {current['seeded_at']:%Y-%m-%d %H:%M} ({contacts:,}).")
        return current
    if current is None and holds_data():
        raise BenchDatabaseError(
            f"{connection.settings_dict['NAME']} holds data but no benchmark marker: refusing "
            "to reseed it. Point DATABASE_URL at a dedicated database (default "
            "consent_crm_bench), or empty this one yourself."
        )
    if current is not None or holds_data():
        log("The data set differs from the one wanted: recreating the database.")
        connection.close()
        drop_and_create(url)
        call_command("migrate", verbosity=0, interactive=False)
    log(f"Seeding {contacts:,} contacts (seed_demo) …")
    call_command("seed_demo", contacts=contacts, seed=seed, stdout=sys.stdout)
    write_marker(**wanted)
    vacuum_analyze()
    return marker()
