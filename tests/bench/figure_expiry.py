"""(b) The expiry sweep: `data_consents_expire` over 100k due consents among ~2M (scaled with
the data set: one due consent per 10 contacts), with its history rows and subject recompute.

Setup: enough active consents get their `valid_until` moved to the past to make the due count
right (consents that came due naturally since the seed count too). Floor: one bare
`UPDATE ... WHERE state = 'active' AND valid_until < today` over the same rows. Everything runs
in one transaction that is rolled back, then a VACUUM of the touched tables (untimed), so the
data set is left as it was.
"""

from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from consent.models import DataConsent
from consent.services.data_consents import data_consents_expire
from subjects.models import Contact, Lead
from tests.bench.queries import counting_queries
from tests.bench.results import Figure, timed

BAR_SECONDS_PER_100K = 30.0

ARRANGE_SQL = """
UPDATE consent_dataconsent SET valid_until = %(today)s - 1 - (id %% 30)::int
WHERE id IN (
    SELECT id FROM consent_dataconsent
    WHERE state = 'active' AND valid_until >= %(today)s
    ORDER BY (id * 2654435761) %% 4294967296
    LIMIT %(count)s
)
"""
FLOOR_SQL = """
UPDATE consent_dataconsent SET state = 'inactive', status_reason = 'expired', updated_at = now()
WHERE state = 'active' AND valid_until < %(today)s
"""


class Rollback(Exception):
    pass


def _last_history_id(model) -> int:
    return model.history.aggregate(last=Max("history_id"))["last"] or 0


def _execute(sql: str, params: dict) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def vacuum() -> None:
    """The rolled-back sweeps leave dead row versions in the consent and subject tables and their
    history tables; without a VACUUM (autovacuum may be off on a benchmark server) the next
    run's list views and audience read past them and slow down. Not timed."""
    tables = [
        table
        for model in (DataConsent, Lead, Contact)
        for table in (model._meta.db_table, model.history.model._meta.db_table)
    ]
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM (ANALYZE) {', '.join(tables)}")


def figures(*, contacts: int) -> list[Figure]:
    due_wanted = max(contacts // 10, 1)
    today = timezone.localdate()
    params = {"today": today, "count": 0}
    result = {}
    try:
        with transaction.atomic():
            already = DataConsent.objects.due_for_expiry(today=today).count()
            params["count"] = max(due_wanted - already, 0)
            _execute(ARRANGE_SQL, params)
            total = DataConsent.objects.count()
            due = DataConsent.objects.due_for_expiry(today=today).count()
            floors = []
            for _ in range(2):  # the first one also warms the cache for the sweep
                savepoint = transaction.savepoint()
                floors.append(timed(lambda: _execute(FLOOR_SQL, params))[0])
                transaction.savepoint_rollback(savepoint)
            marks = {model: _last_history_id(model) for model in (DataConsent, Lead, Contact)}
            with counting_queries() as counter:
                seconds, expired = timed(lambda: data_consents_expire(today=today))
            written = {
                model: model.history.filter(history_id__gt=mark).count()
                for model, mark in marks.items()
            }
            result = {
                "consent_history": written[DataConsent],
                "subject_history": written[Lead] + written[Contact],
                "seconds": seconds,
                "floor": min(floors),
                "expired": expired,
                "due": due,
                "total": total,
                "queries": counter["queries"],
            }
            raise Rollback
    except Rollback:
        pass
    vacuum()
    bar = BAR_SECONDS_PER_100K * result["due"] / 100_000
    return [
        Figure(
            f"expiry sweep: {result['due']:,} due of {result['total']:,} data consents",
            result["seconds"],
            result["floor"],
            f"≤ {bar:.1f} s (30 s per 100k due)",
            result["seconds"] <= bar
            and result["expired"] == result["due"] == result["consent_history"],
            unit="s",
            note=f"{result['expired']:,} expired in {result['queries']} queries, "
            f"{result['consent_history']:,} consent and {result['subject_history']:,} subject "
            "history rows; rolled back",
        )
    ]
