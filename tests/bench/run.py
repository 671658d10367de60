"""The benchmark suite of DESIGN §7: every bar measured, each against a floor of the same run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/consent_crm_bench \\
        .venv/bin/python tests/bench/run.py --contacts 1000000

Creates and migrates the database if needed, seeds it once per size (`seed_demo`, marker table
`bench_seed_marker`; a database holding other data is refused), measures every figure, runs
bench_checks.py, bench_http.py and bench_load.py when present, prints one table and writes it
as JSON to $BENCH_OUT (default bench-results.json). Exit status 1 when a bar fails. PostgreSQL only.
See tests/bench/README.md and docs/performance.md.
"""

import argparse
import logging
import os
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path[0] = str(REPO)  # import the project, not tests/bench's siblings as top-level modules
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DEBUG", "true")

from tests.bench import database  # noqa: E402
from tests.bench.results import Figure, table, write_json  # noqa: E402

FIGURES = (
    "audience",
    "lists",
    "timeline",
    "preferences",
    "expiry",
    "dashboard",
    "search_export",
    "checks",
    "http",
    "load",
    "explain_asof",
    "ledger",
    "webhooks",
)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--reseed", action="store_true", help="Seed again even if the marker fits.")
    parser.add_argument("--runs", type=int, default=5, help="Timed runs per short figure.")
    parser.add_argument(
        "--only", default=",".join(FIGURES), help=f"Comma-separated subset of {FIGURES}."
    )
    args = parser.parse_args(argv)
    args.only = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(args.only) - set(FIGURES)
    if unknown:
        parser.error(f"unknown figure(s): {', '.join(sorted(unknown))}")
    return args


def setup_django(url: str, args: argparse.Namespace) -> dict:
    created = database.ensure_exists(url)
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection

    if connection.vendor != "postgresql":
        raise database.BenchDatabaseError("DATABASE_URL must name a PostgreSQL database.")
    if created:
        print(f"Created database {connection.settings_dict['NAME']}.")
    marker = database.prepare(url, contacts=args.contacts, seed=args.seed, reseed=args.reseed)
    # Measure what production runs: no SQL kept per query, no template debug information;
    # INFO logs (login audits and the like) would only clutter the table.
    settings.DEBUG = False
    logging.disable(logging.INFO)
    return marker


def measure(args: argparse.Namespace) -> list[Figure]:
    from django.test import Client

    from tests.bench import fixtures

    figures: list[Figure] = []
    runs = args.runs

    def stage(name: str, produce):
        if name not in args.only:
            return
        started = time.monotonic()
        print(f"· {name} …", flush=True)
        new = produce()
        figures.extend(new)
        print(f"  {name}: {len(new)} figure(s) in {time.monotonic() - started:.0f} s", flush=True)

    def lists():
        from tests.bench import figure_lists

        client = Client(HTTP_HOST="localhost")
        client.force_login(fixtures.bench_user())
        return figure_lists.figures(client, runs=runs)

    def audience():
        from tests.bench import figure_audience

        return figure_audience.figures(runs=3 if args.contacts < 500_000 else 2)

    def timeline():
        from tests.bench import figure_timeline

        return figure_timeline.figures(runs=runs)

    def preferences():
        from tests.bench import figure_preferences

        return figure_preferences.figures(runs=runs)

    def explain_asof():
        from tests.bench import figure_explain_asof

        return figure_explain_asof.figures(runs=runs, contacts=args.contacts)

    def expiry():
        from tests.bench import figure_expiry

        return figure_expiry.figures(contacts=args.contacts)

    def ledger():
        from tests.bench import figure_ledger

        return figure_ledger.figures(runs=runs)

    def dashboard():
        from tests.bench import figure_dashboard

        return figure_dashboard.figures(runs=runs, contacts=args.contacts)

    def webhooks():
        from tests.bench import figure_webhooks

        return figure_webhooks.figures()

    def search_export():
        from tests.bench import figure_search_export

        return figure_search_export.figures(runs=runs, contacts=args.contacts)

    def other(script: str):
        from django.conf import settings

        from tests.bench import others

        # The children see the same keys (suppression hashes, signed links) as this process.
        environ = {
            "SECRET_KEY": settings.SECRET_KEY,
            "SUPPRESSION_HASH_KEY": settings.SUPPRESSION_HASH_KEY,
        }
        return lambda: others.run(script, contacts=args.contacts, environ=environ)

    stage("audience", audience)
    stage("lists", lists)
    stage("timeline", timeline)
    stage("preferences", preferences)
    stage("expiry", expiry)
    stage("dashboard", dashboard)
    stage("search_export", search_export)
    stage("checks", other("bench_checks.py"))
    stage("http", other("bench_http.py"))
    stage("load", other("bench_load.py"))
    stage("explain_asof", explain_asof)
    stage("ledger", ledger)
    stage("webhooks", webhooks)
    return figures


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    url = database.require_postgres_url()
    started = time.monotonic()
    marker = setup_django(url, args)
    figures = measure(args)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        server = cursor.fetchone()[0]
    seeded = f"{marker['seeded_at']:%Y-%m-%d}"
    print(
        f"\nDESIGN §7 benchmarks — {args.contacts:,} contacts (seeded {seeded}), "
        f"PostgreSQL {server}, {os.cpu_count()} CPU, Python {platform.python_version()}, "
        f"{time.monotonic() - started:.0f} s\n"
    )
    print(table(figures))
    out = write_json(figures, os.environ.get("BENCH_OUT", "bench-results.json"))
    print(f"\nWritten to {out}.")
    failed = [f.figure for f in figures if f.passed is False]
    if failed:
        print(f"{len(failed)} figure(s) miss their bar.")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
