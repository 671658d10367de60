"""Benchmark of the consent check (DESIGN.md §7): single check and 10,000-address bulk check.

    createdb -h 127.0.0.1 -U postgres helper_e_bench
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/helper_e_bench DEBUG=true \\
        .venv/bin/python manage.py migrate
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/helper_e_bench DEBUG=true \\
        .venv/bin/python tests/bench/bench_checks.py [--contacts 100000]

The data set is `seed_demo` (COPY on PostgreSQL), built on the first run and reused after.
Each figure is printed next to a floor measured in the same run on the same data:

* single check — `decide` in-process, p50 over 1,000 different addresses, and its query count;
  floor: one hand-written single-row SQL lookup of the purpose record (p50).
* bulk check — `POST consent-checks/` with 10,000 addresses through the API view in-process
  (JSON in and out), median of a few runs, and its query count next to the count for 10
  addresses; floor: one hand-written SQL query fetching those 10,000 addresses' records.
"""

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.auth.models import Permission  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from rest_framework.test import APIRequestFactory, force_authenticate  # noqa: E402

from consent.api_contact_points import ConsentCheckViewSet  # noqa: E402
from consent.decision import decide  # noqa: E402
from consent.models import ComplianceProfile, ContactPointConsent  # noqa: E402
from subjects.models import Contact  # noqa: E402

SINGLE_RUNS = 1000
BULK_SIZE = 10_000
BULK_RUNS = 5
BAR_SINGLE_QUERIES = 6
BAR_SINGLE_P50_MS = 5.0
BAR_BULK_S = 1.0


def ensure_data(contacts: int) -> None:
    if Contact.objects.exists():
        print(f"Reusing the data set: {Contact.objects.count():,} contacts.")
        return
    print(f"Seeding {contacts:,} contacts (seed_demo, bulk COPY on PostgreSQL) …")
    call_command("seed_demo", contacts=contacts)


def addresses(count: int) -> list[str]:
    """`count` different contact emails, spread over the table, in their stored case."""
    emails = Contact.objects.exclude(email=None).order_by("pk").values_list("email", flat=True)
    distinct = list({email.lower(): email for email in emails}.values())
    picked = distinct[:: max(1, len(distinct) // count)][:count]
    if len(picked) < count:
        sys.exit(f"Only {len(picked):,} distinct contact emails; seed more contacts.")
    return picked


def check_only_user():
    user, _ = get_user_model().objects.get_or_create(username="bench-mailer")
    user.user_permissions.add(Permission.objects.get(codename="check_consent"))
    return get_user_model().objects.get(pk=user.pk)  # fresh: no cached permissions


def p50_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def timed(function, *args) -> float:
    started = time.perf_counter()
    function(*args)
    return time.perf_counter() - started


def cpu_timed(function, *args) -> tuple[float, float]:
    """(wall, this process's CPU) seconds: on a busy machine the CPU time shows our own cost."""
    wall, cpu = time.perf_counter(), time.process_time()
    function(*args)
    return time.perf_counter() - wall, time.process_time() - cpu


# ---------------------------------------------------------------------------------------------
# Single check


def bench_single(values: list[str], purpose, topic) -> dict:
    def one(value):
        decide(channel="email", value=value, purpose=purpose.pk, topic=topic.pk)

    for value in values[:50]:
        one(value)  # warm up connections, caches, the email validator
    samples, cpu = zip(*(cpu_timed(one, value) for value in values), strict=True)
    with CaptureQueriesContext(connection) as queries:
        one(values[0])

    sql = (
        "SELECT status, expires_at FROM consent_contactpointconsent "
        "WHERE channel = %s AND value = %s AND purpose_id = %s AND topic_id IS NULL"
    )
    stored = [value.lower() for value in values]  # the lookup the floor gets for free

    def floor(value):
        with connection.cursor() as cursor:
            cursor.execute(sql, ["email", value, purpose.pk])
            cursor.fetchone()

    for value in stored[:50]:
        floor(value)
    floor_samples = [timed(floor, value) for value in stored]
    return {
        "p50": p50_ms(samples),
        "cpu_p50": p50_ms(cpu),
        "p95": statistics.quantiles(samples, n=20)[-1] * 1000,
        "queries": len(queries),
        "floor_p50": p50_ms(floor_samples),
    }


# ---------------------------------------------------------------------------------------------
# Bulk check through the API view


def bench_bulk(values: list[str], purpose, topic, user) -> dict:
    view = ConsentCheckViewSet.as_view({"post": "create"})
    factory = APIRequestFactory()

    def post(checks):
        request = factory.post("/api/v1/consent-checks/", {"checks": checks}, format="json")
        force_authenticate(request, user=user)
        response = view(request)
        response.render()
        assert response.status_code == 200, response.content[:500]
        return response

    checks = [
        {"channel": "email", "value": value, "purpose": purpose.pk}
        | ({"topic": topic.pk} if n % 2 else {})
        for n, value in enumerate(values)
    ]
    post(checks[:10])  # warm up; loads the user's permissions
    with CaptureQueriesContext(connection) as small:
        post(checks[:10])
    with CaptureQueriesContext(connection) as large:
        response = post(checks)
    results = response.data["results"]
    allowed = sum(result["allowed"] for result in results)
    durations, cpu = zip(*(cpu_timed(post, checks) for _ in range(BULK_RUNS)), strict=True)

    stored = [value.lower() for value in values]
    sql = (
        "SELECT id, channel, value, purpose_id, topic_id, status, expires_at "
        "FROM consent_contactpointconsent "
        "WHERE channel = 'email' AND value = ANY(%s) AND purpose_id = %s "
        "AND (topic_id IS NULL OR topic_id = %s)"
    )
    if connection.vendor != "postgresql":
        sql = sql.replace("= ANY(%s)", "IN (SELECT value FROM json_each(%s))")
        stored = json.dumps(stored)

    def floor():
        with connection.cursor() as cursor:
            cursor.execute(sql, [stored, purpose.pk, topic.pk])
            return cursor.fetchall()

    floor()
    rows = len(floor())
    floor_durations = [timed(floor) for _ in range(BULK_RUNS)]
    return {
        "seconds": statistics.median(durations),
        "cpu_seconds": statistics.median(cpu),
        "queries": len(large),
        "queries_small": len(small),
        "floor_seconds": statistics.median(floor_durations),
        "floor_rows": rows,
        "allowed": allowed,
    }


# ---------------------------------------------------------------------------------------------


def report(rows: list[tuple]) -> None:
    header = ("measure", "value", "floor", "ratio", "bar", "ok")
    table = [header, *rows]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(header))]
    for row in table:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    options = parser.parse_args()

    print(f"Database: {connection.vendor} {connection.settings_dict['NAME']}")
    print(f"Load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    ensure_data(options.contacts)
    purpose = ComplianceProfile.objects.default().purposes.get(kind="commercial")
    topic = purpose.topics.order_by("pk").first()
    records = ContactPointConsent.objects.count()
    print(f"{records:,} contact-point consents; purpose {purpose}, topic {topic}")

    values = addresses(BULK_SIZE)
    single = bench_single(values[:SINGLE_RUNS], purpose, topic)
    bulk = bench_bulk(values, purpose, topic, check_only_user())

    single_ok = single["queries"] <= BAR_SINGLE_QUERIES and single["p50"] <= BAR_SINGLE_P50_MS
    bulk_ok = bulk["seconds"] <= BAR_BULK_S and bulk["queries"] == bulk["queries_small"]
    print()
    report(
        [
            (
                f"single check p50 ({SINGLE_RUNS:,} runs; p95 {single['p95']:.2f} ms)",
                f"{single['p50']:.2f} ms",
                f"{single['floor_p50']:.3f} ms",
                f"{single['p50'] / single['floor_p50']:.1f}x",
                f"<= {BAR_SINGLE_P50_MS:g} ms",
                "yes" if single["p50"] <= BAR_SINGLE_P50_MS else "NO",
            ),
            (
                "single check queries",
                single["queries"],
                1,
                f"{single['queries']}x",
                f"<= {BAR_SINGLE_QUERIES}",
                "yes" if single["queries"] <= BAR_SINGLE_QUERIES else "NO",
            ),
            (
                f"bulk check, {BULK_SIZE:,} addresses via API (median of {BULK_RUNS})",
                f"{bulk['seconds']:.3f} s",
                f"{bulk['floor_seconds']:.3f} s ({bulk['floor_rows']:,} rows)",
                f"{bulk['seconds'] / bulk['floor_seconds']:.1f}x",
                f"<= {BAR_BULK_S:g} s",
                "yes" if bulk["seconds"] <= BAR_BULK_S else "NO",
            ),
            (
                f"bulk check queries ({BULK_SIZE:,} vs 10 addresses)",
                bulk["queries"],
                bulk["queries_small"],
                f"{bulk['queries'] / bulk['queries_small']:.1f}x",
                "constant",
                "yes" if bulk["queries"] == bulk["queries_small"] else "NO",
            ),
        ]
    )
    print(
        f"\nProcess CPU (excludes the database server): single check p50 "
        f"{single['cpu_p50']:.2f} ms, bulk check median {bulk['cpu_seconds']:.3f} s. "
        f"Load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs."
    )
    print(f"{bulk['allowed']:,} of {BULK_SIZE:,} addresses allowed.")
    print("All bars met." if single_ok and bulk_ok else "A bar was missed.")
    sys.exit(0 if single_ok and bulk_ok else 1)


if __name__ == "__main__":
    main()
