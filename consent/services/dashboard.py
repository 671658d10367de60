"""The dashboard's figures (DESIGN §5), computed in the background and stored, so the admin index
reads a handful of small rows instead of scanning a million subjects on every view.

`dashboard_figures_refresh` runs from a Celery beat task every DASHBOARD_REFRESH_MINUTES and on
demand (the dashboard's "Refresh now"); each figure is one bounded GROUP BY:

* `subjects_by_level` — active leads and contacts per consent level (the "active" views);
* `expiring_by_month` — active data consents whose `valid_until` falls in each of the next 12
  months, the current month from today on (the expiry index serves the range);
* `opt_trend` — opt-ins and opt-outs recorded per day over the last 26 weeks, per purpose,
  topic and source, from the contact-point history (`history_date` index): a history row counts
  when it records `opted_in` / `opted_out` and the record's previous row inside the window had
  another status (or there is none), so an edit of evidence alone does not count twice.
"""

import time
from datetime import date, datetime, timedelta

from django.db import connection, transaction
from django.db.models import Count
from django.db.models.functions import TruncMonth
from django.utils import timezone

from consent.models import ContactPointConsent, DashboardFigure, DataConsent
from subjects.models import ConsentLevel, Contact, Lead

TREND_WEEKS = 26
EXPIRY_MONTHS = 12

_DAY = {
    "postgresql": "CAST(history_date AT TIME ZONE 'UTC' AS date)",
    "sqlite": "date(history_date)",
}
TREND_SQL = """
SELECT day, purpose_id, topic_id, source, status, COUNT(*) FROM (
    SELECT {day} AS day, purpose_id, topic_id, source, status,
           LAG(status) OVER (PARTITION BY id ORDER BY history_date, history_id) AS previous
    FROM {table} WHERE history_date >= %s
) events
WHERE status IN ('opted_in', 'opted_out') AND (previous IS NULL OR previous <> status)
GROUP BY day, purpose_id, topic_id, source, status
"""


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def trend_weeks(today: date) -> list[date]:
    """The Mondays of the last 26 weeks, the current week last."""
    current = week_start(today)
    return [current - timedelta(weeks=n) for n in range(TREND_WEEKS - 1, -1, -1)]


def expiry_months(today: date) -> list[tuple[date, date]]:
    """(first day counted, last day) of the next 12 months, the current one from today."""
    months, start = [], today
    for _ in range(EXPIRY_MONTHS):
        following = (start.replace(day=1) + timedelta(days=32)).replace(day=1)
        months.append((start, following - timedelta(days=1)))
        start = following
    return months


def subjects_by_level() -> list[dict]:
    counts = {
        model: dict(
            model.objects.active()
            .order_by()
            .values_list("consent_level")
            .annotate(n=Count("id"))
            .values_list("consent_level", "n")
        )
        for model in (Lead, Contact)
    }
    return [
        {
            "level": level.value,
            "label": level.label,
            "leads": counts[Lead].get(level.value, 0),
            "contacts": counts[Contact].get(level.value, 0),
        }
        for level in ConsentLevel
    ]


def expiring_by_month(today: date) -> list[dict]:
    months = expiry_months(today)
    counts = dict(
        DataConsent.objects.active()
        .filter(valid_until__gte=today, valid_until__lte=months[-1][1])
        .order_by()
        .annotate(month=TruncMonth("valid_until"))
        .values_list("month")
        .annotate(n=Count("id"))
        .values_list("month", "n")
    )
    counts = {_as_date(month).replace(day=1): n for month, n in counts.items()}
    return [
        {
            "month": f"{first:%Y-%m}",
            "first_day": first.isoformat(),
            "last_day": last.isoformat(),
            "data_consents": counts.get(first.replace(day=1), 0),
        }
        for first, last in months
    ]


def _as_date(value) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, str):
        return date.fromisoformat(value[:10])
    return value


def opt_trend(today: date) -> list[dict]:
    """One row per (week, purpose, topic, source) with its opt-ins and opt-outs."""
    start = trend_weeks(today)[0]
    since = datetime(start.year, start.month, start.day, tzinfo=timezone.get_current_timezone())
    sql = TREND_SQL.format(
        day=_DAY[connection.vendor],
        table=connection.ops.quote_name(ContactPointConsent.history.model._meta.db_table),
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [since])
        rows = cursor.fetchall()
    buckets: dict[tuple, dict] = {}
    for day, purpose_id, topic_id, source, status, count in rows:
        key = (week_start(_as_date(day)).isoformat(), purpose_id, topic_id, source)
        bucket = buckets.setdefault(
            key,
            {"week": key[0], "purpose": purpose_id, "topic": topic_id, "source": source},
        )
        name = "opt_ins" if status == ContactPointConsent.Status.OPTED_IN else "opt_outs"
        bucket[name] = bucket.get(name, 0) + count
    return [
        {"opt_ins": 0, "opt_outs": 0, **bucket}
        for _, bucket in sorted(buckets.items(), key=lambda item: tuple(map(str, item[0])))
    ]


FIGURES = {
    "subjects_by_level": lambda today: subjects_by_level(),
    "expiring_by_month": expiring_by_month,
    "opt_trend": opt_trend,
}


def dashboard_figures_refresh(*, keys=None) -> list[DashboardFigure]:
    """Compute the figures (all, or `keys`) and store them with the time they were computed."""
    today = timezone.localdate()
    stored = []
    for key in keys or FIGURES:
        started = time.monotonic()
        rows = FIGURES[key](today)
        elapsed = int((time.monotonic() - started) * 1000)
        with transaction.atomic():
            figure, _ = DashboardFigure.objects.update_or_create(
                key=key,
                defaults={"rows": rows, "computed_at": timezone.now(), "duration_ms": elapsed},
            )
        stored.append(figure)
    return stored
