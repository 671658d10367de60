"""(§7) A check with `explain` and a check `as_of` a past instant, against a plain check.

* explain: p50 of single checks with `explain=True` over the same addresses as plain ones; the
  floor is the plain check (bar: ≤ 1.3×), the query counts must be equal.
* as_of: p50 of single checks replayed from the history (bar: ≤ 25 ms with ≥ 6M history rows;
  the history row count is reported, from the planner's statistics), the floor again the plain
  check (informational ratio). Query counts: one check and 1,000 checks at once must issue the
  same number of statements. The 1M seed holds about 4.1M history rows: at 1M contacts the
  figure first adds older versions of the contact-point records (copies of their history rows
  dated 400 days earlier) up to 6M, in a transaction rolled back afterwards, the table then
  vacuumed and reindexed (untimed). Below 1M contacts the row is informational.
"""

import random
import statistics
import time
from contextlib import contextmanager
from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone

from consent.decision.bulk import decide_many
from consent.decision.single import decide
from consent.models import ComplianceProfile, ContactPointConsent, Suppression
from subjects.models import Contact, Lead
from tests.bench.database import vacuum_and_reindex
from tests.bench.queries import captured_queries
from tests.bench.results import Figure

SAMPLE = 300
EXPLAIN_BAR, AS_OF_BAR_MS, AS_OF_MIN_HISTORY = 1.3, 25.0, 6_000_000
BAR_CONTACTS = 1_000_000  # the as_of bar's scale


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


@contextmanager
def _history_of_at_least(rows: int):
    """Older versions of contact-point records until the history tables hold `rows` (copies of
    the first history rows, dated 400 days earlier), rolled back on exit, the table then
    vacuumed and reindexed. Yields the rows added."""
    missing = rows - _history_rows()
    if missing <= 0:
        yield 0
        return
    history = ContactPointConsent.history.model
    table = connection.ops.quote_name(history._meta.db_table)
    columns = [f.column for f in history._meta.concrete_fields if f.column != "history_id"]
    older = {"history_date": "history_date - INTERVAL '400 days'", "history_type": "'~'"}
    copy = (
        f"INSERT INTO {table} ({', '.join(columns)}) "
        f"SELECT {', '.join(older.get(c, c) for c in columns)} FROM {table} "
        "ORDER BY history_id LIMIT %s"
    )
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        added = 0
        while added < missing:
            cursor.execute(copy, [missing - added])
            if not cursor.rowcount:
                break  # no history to copy
            added += cursor.rowcount
        cursor.execute(f"ANALYZE {table}")
        seconds = time.perf_counter() - started
        print(f"  as_of: {added:,} older history rows added in {seconds:.0f} s (not timed)")
        yield added
        transaction.set_rollback(True)
    seconds = vacuum_and_reindex([table])
    print(f"  as_of: VACUUM and REINDEX in {seconds:.0f} s (not timed)")


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


def figures(*, runs: int, contacts: int = 0) -> list[Figure]:
    purpose = ComplianceProfile.objects.default().purposes.get(kind="commercial")
    checks = _checks(purpose.pk)
    if not checks:
        return []
    as_of = timezone.now() - timedelta(days=30)
    plain = min(_p50_ms(checks) for _ in range(max(1, runs // 2)))
    explained = min(_p50_ms(checks, explain=True) for _ in range(max(1, runs // 2)))
    one, many = checks[0], (checks * 4)[:1000]
    q_plain = _queries(fn=decide, **one)
    q_explain = _queries(fn=decide, **one, explain=True)
    at_scale = contacts >= BAR_CONTACTS
    # 2 % above the bar: the count is the planner's estimate after ANALYZE.
    with _history_of_at_least(int(AS_OF_MIN_HISTORY * 1.02) if at_scale else 0) as added:
        replayed = min(_p50_ms(checks, as_of=as_of, explain=True) for _ in range(max(1, runs // 2)))
        q_as_of = _queries(fn=decide, **one, as_of=as_of, explain=True)
        q_as_of_many = _queries(fn=decide_many, checks=many, as_of=as_of, explain=True)
        history = _history_rows()
    added_note = f" ({added:,} of them older versions added for the figure)" if added else ""
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
            note=f"{history:,} history rows{added_note}; queries: 1 check {q_as_of}, "
            f"1,000 checks {q_as_of_many}"
            + ("" if history >= AS_OF_MIN_HISTORY else "; below the bar's scale: info"),
        ),
    ]
