"""(§7) A check with `explain` and a check `as_of` a past instant, against a plain check.

* explain: p50 of single checks with `explain=True` over the same addresses as plain ones; the
  floor is the plain check (bar: ≤ 1.3×), the query counts must be equal.
* as_of: p50 of single checks replayed from the history (bar: ≤ 25 ms with ≥ 6M history rows;
  the history row count is reported, from the planner's statistics), the floor again the plain
  check (informational ratio). Query counts: one check and 1,000 checks at once must issue the
  same number of statements.
"""

import random
import statistics
import time
from datetime import timedelta

from django.db import connection
from django.utils import timezone

from consent.decision.bulk import decide_many
from consent.decision.single import decide
from consent.models import ComplianceProfile, ContactPointConsent, Suppression
from subjects.models import Contact, Lead
from tests.bench.queries import captured_queries
from tests.bench.results import Figure

SAMPLE = 300
EXPLAIN_BAR, AS_OF_BAR_MS, AS_OF_MIN_HISTORY = 1.3, 25.0, 6_000_000


def _history_rows() -> int:
    tables = [
        model.history.model._meta.db_table
        for model in (ContactPointConsent, Contact, Lead, Suppression)
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COALESCE(SUM(GREATEST(reltuples, 0)), 0)::bigint FROM pg_class "
            "WHERE relname = ANY(%s)",
            [tables],
        )
        return cursor.fetchone()[0]


def _checks(purpose_pk: int) -> list[dict]:
    values = list(
        ContactPointConsent.objects.filter(channel="email", purpose_id=purpose_pk)
        .order_by("id")
        .values_list("value", flat=True)[: SAMPLE * 10]
    )
    random.Random(7).shuffle(values)
    return [
        {"channel": "email", "value": value, "purpose": purpose_pk} for value in values[:SAMPLE]
    ]


def _p50_ms(checks: list[dict], **options) -> float:
    for check in checks[:20]:  # warm: prepared queries, caches
        decide(**check, **options)
    times = []
    for check in checks:
        started = time.perf_counter()
        decide(**check, **options)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def _queries(**options) -> int:
    with captured_queries() as ctx:
        options["fn"](**{k: v for k, v in options.items() if k != "fn"})
    return len(ctx)


def figures(*, runs: int) -> list[Figure]:
    purpose = ComplianceProfile.objects.default().purposes.get(kind="commercial")
    checks = _checks(purpose.pk)
    if not checks:
        return []
    as_of = timezone.now() - timedelta(days=30)
    plain = min(_p50_ms(checks) for _ in range(max(1, runs // 2)))
    explained = min(_p50_ms(checks, explain=True) for _ in range(max(1, runs // 2)))
    replayed = min(_p50_ms(checks, as_of=as_of, explain=True) for _ in range(max(1, runs // 2)))
    one, many = checks[0], (checks * 4)[:1000]
    q_plain = _queries(fn=decide, **one)
    q_explain = _queries(fn=decide, **one, explain=True)
    q_as_of = _queries(fn=decide, **one, as_of=as_of, explain=True)
    q_as_of_many = _queries(fn=decide_many, checks=many, as_of=as_of, explain=True)
    history = _history_rows()
    return [
        Figure(
            "single check with explain (p50, in-process)",
            explained,
            plain,
            f"≤ {EXPLAIN_BAR}× a plain check; same query count",
            explained <= EXPLAIN_BAR * plain and q_explain == q_plain,
            note=f"{len(checks)} addresses; queries plain {q_plain}, explain {q_explain}",
        ),
        Figure(
            "single check as_of 30 days ago (p50, in-process, explained)",
            replayed,
            plain,
            f"≤ {AS_OF_BAR_MS:.0f} ms with ≥ 6M history rows; constant query count",
            (replayed <= AS_OF_BAR_MS and q_as_of == q_as_of_many)
            if history >= AS_OF_MIN_HISTORY
            else None,
            note=f"{history:,} history rows; queries: 1 check {q_as_of}, "
            f"1,000 checks {q_as_of_many}"
            + ("" if history >= AS_OF_MIN_HISTORY else "; below the bar's scale: info"),
        ),
    ]
