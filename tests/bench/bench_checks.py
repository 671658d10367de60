"""Benchmark of the consent check (DESIGN.md §7): single check and 10,000-address bulk check.

Run by `run.py --only checks` after it has seeded the database (the BENCH_JSON convention of
README.md), or on its own against an already seeded benchmark database:

    DEBUG=true DATABASE_URL=postgres://postgres@127.0.0.1:5432/consent_crm_bench_quick \\
        .venv/bin/python tests/bench/bench_checks.py

It never seeds: an empty database is refused. Everything runs in one transaction that is
rolled back (the check-only user it needs is created inside it), so the data is left as found.
Each figure is measured next to a floor of the same run on the same data:

* single check — `decide` in-process, p50 over 1,000 different addresses, and its query count;
  floor: one hand-written single-row SQL lookup of the purpose record (p50).
* bulk check — `POST consent-checks/` with 10,000 addresses through the API view in-process
  (JSON in and out), median of a few runs, and its query count next to the count for 10
  addresses; floor: one hand-written SQL query fetching those 10,000 addresses' records.
"""

import os
import statistics
import sys
import time
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parents[2])  # the repository root
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from tests.bench.database import require_postgres_url  # noqa: E402

require_postgres_url()

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.auth.models import Permission  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from rest_framework.test import APIRequestFactory, force_authenticate  # noqa: E402

from consent.api.consent_checks import ConsentCheckViewSet  # noqa: E402
from consent.decision.single import decide  # noqa: E402
from consent.models import ComplianceProfile, ContactPointConsent  # noqa: E402
from subjects.models import Contact  # noqa: E402
from tests.bench.queries import counting_queries  # noqa: E402
from tests.bench.results import Figure, table, write_json  # noqa: E402

SINGLE_RUNS = 1000
BULK_SIZE = 10_000
BULK_RUNS = 5
BAR_SINGLE_QUERIES = 6
BAR_SINGLE_P50_MS = 5.0
BAR_BULK_MS = 1000.0


def addresses(count: int) -> list[str]:
    """`count` different contact emails, spread over the table, in their stored case."""
    emails = Contact.objects.exclude(email=None).order_by("pk").values_list("email", flat=True)
    distinct = list({email.lower(): email for email in emails.iterator(chunk_size=20_000)}.values())
    picked = distinct[:: max(1, len(distinct) // count)][:count]
    if len(picked) < count:
        sys.exit(f"Only {len(picked):,} distinct contact emails; seed more contacts.")
    return picked


def check_only_user():
    """A user holding only `consent.check_consent` (created inside the rolled-back transaction)."""
    user, _ = get_user_model().objects.get_or_create(username="bench-checks-mailer")
    user.user_permissions.add(Permission.objects.get(codename="check_consent"))
    return get_user_model().objects.get(pk=user.pk)  # fresh: no cached permissions


def p50_ms(samples) -> float:
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


def count_queries(function, *args) -> int:
    with counting_queries() as counter:
        function(*args)
    return counter["queries"]


# ---------------------------------------------------------------------------------------------
# Single check


def bench_single(values: list[str], purpose, topic) -> dict:
    def one(value):
        decide(channel="email", value=value, purpose=purpose.pk, topic=topic.pk)

    for value in values[:50]:
        one(value)  # warm up connections, caches, the email validator
    samples, cpu = zip(*(cpu_timed(one, value) for value in values), strict=True)
    queries = count_queries(one, values[0])

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
        "queries": queries,
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
    queries_small = count_queries(post, checks[:10])
    queries_large = count_queries(post, checks)
    results = post(checks).data["results"]
    allowed = sum(result["allowed"] for result in results)
    durations, cpu = zip(*(cpu_timed(post, checks) for _ in range(BULK_RUNS)), strict=True)

    stored = [value.lower() for value in values]
    sql = (
        "SELECT id, channel, value, purpose_id, topic_id, status, expires_at "
        "FROM consent_contactpointconsent "
        "WHERE channel = 'email' AND value = ANY(%s) AND purpose_id = %s "
        "AND (topic_id IS NULL OR topic_id = %s)"
    )

    def floor():
        with connection.cursor() as cursor:
            cursor.execute(sql, [stored, purpose.pk, topic.pk])
            return cursor.fetchall()

    rows = len(floor())
    floor_durations = [timed(floor) for _ in range(BULK_RUNS)]
    return {
        "seconds": statistics.median(durations),
        "cpu_seconds": statistics.median(cpu),
        "queries": queries_large,
        "queries_small": queries_small,
        "floor_seconds": statistics.median(floor_durations),
        "floor_rows": rows,
        "allowed": allowed,
    }


# ---------------------------------------------------------------------------------------------


def measure() -> list[Figure]:
    purpose = ComplianceProfile.objects.default().purposes.get(kind="commercial")
    topic = purpose.topics.order_by("pk").first()
    records = ContactPointConsent.objects.count()
    print(f"{records:,} contact-point consents; purpose {purpose}, topic {topic}", flush=True)

    values = addresses(BULK_SIZE)
    single = bench_single(values[:SINGLE_RUNS], purpose, topic)
    bulk = bench_bulk(values, purpose, topic, check_only_user())

    bulk_ms = bulk["seconds"] * 1000
    constant = bulk["queries"] == bulk["queries_small"]
    return [
        Figure(
            "single consent check p50 (in-process decide)",
            single["p50"],
            single["floor_p50"],
            f"≤ {BAR_SINGLE_P50_MS:g} ms; ≤ {BAR_SINGLE_QUERIES} queries",
            single["p50"] <= BAR_SINGLE_P50_MS and single["queries"] <= BAR_SINGLE_QUERIES,
            unit="ms",
            note=(
                f"{single['queries']} queries; p95 {single['p95']:.2f} ms; process CPU p50 "
                f"{single['cpu_p50']:.2f} ms; {SINGLE_RUNS:,} addresses; floor: one-row SQL"
            ),
        ),
        Figure(
            f"bulk consent check, {BULK_SIZE:,} addresses (API, in-process)",
            bulk_ms,
            bulk["floor_seconds"] * 1000,
            f"≤ {BAR_BULK_MS:g} ms; constant query count",
            bulk_ms <= BAR_BULK_MS and constant,
            unit="ms",
            note=(
                f"{bulk['queries']} queries ({bulk['queries_small']} for 10 addresses); "
                f"process CPU {bulk['cpu_seconds'] * 1000:.0f} ms; median of {BULK_RUNS}; "
                f"floor: one SQL query, {bulk['floor_rows']:,} rows; "
                f"{bulk['allowed']:,} allowed"
            ),
        ),
    ]


def main() -> int:
    settings.DEBUG = False  # measure like production: no SQL kept per statement
    print(f"Database: {connection.vendor} {connection.settings_dict['NAME']}")
    print(f"Load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs", flush=True)
    if not Contact.objects.exists():
        sys.exit(
            "The database holds no contacts: seed it with tests/bench/run.py first "
            "(this script never seeds)."
        )
    with transaction.atomic():
        figures = measure()
        transaction.set_rollback(True)  # the check-only user, and anything else, goes
    print()
    print(table(figures))
    print(f"Load average at end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    write_json(figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
