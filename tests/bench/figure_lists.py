"""(c) Every DPO changelist and API list, every `view=` code, at the seeded scale.

Per page: median wall time of the whole request (in-process test client, logged-in superuser),
its query count at page size 10 and 100 (must be equal: no query per row), and every SQL
statement checked for an unbounded COUNT(*) — a COUNT(*) is allowed only over a LIMITed
subquery (the bounded counts of common.admin). Floor: one hand-written
`SELECT * ... ORDER BY <the list's order> LIMIT 50` of the same rows.
"""

import re
import time
from contextlib import contextmanager
from datetime import date, timedelta

from django.contrib import admin
from django.db import connection
from django.test import Client
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from common.admin import dpo_views
from consent.models import DataConsent
from consent.reports.dashboard import missing_figures
from consent.services.dashboard import dashboard_figures_refresh
from marketing_lists.models import MarketingList
from subjects.models import Contact, Lead
from tests.bench.queries import captured_queries
from tests.bench.results import Figure, median_seconds, skipped, timed

BAR_MS = 300
PAGE_SIZES = (10, 100)
SLOW_SECONDS = 2.0  # a page slower than this is timed once more, not `runs` times
COUNT_RE = re.compile(r"\bCOUNT\(", re.IGNORECASE)
# Django's bounded count: SELECT COUNT(*) ... FROM (SELECT ... LIMIT n) subquery
BOUNDED_COUNT_RE = re.compile(
    r"^SELECT COUNT\(\*\)[^()]* FROM \(SELECT .* LIMIT \d+\) subquery$", re.IGNORECASE | re.DOTALL
)
BAR = f"≤ {BAR_MS} ms; queries same at page size 10/100; no unbounded COUNT(*)"

MODELS = {
    # model: (admin changelist URL name, API list URL name, table, ORDER BY of the list)
    Lead: ("admin:subjects_lead_changelist", "lead-list", "subjects_lead", "id DESC"),
    Contact: ("admin:subjects_contact_changelist", "contact-list", "subjects_contact", "id DESC"),
    DataConsent: (
        "admin:consent_dataconsent_changelist",
        "dataconsent-list",
        "consent_dataconsent",
        "given_at DESC, id DESC",
    ),
    MarketingList: (
        "admin:marketing_lists_marketinglist_changelist",
        "marketinglist-list",
        "marketing_lists_marketinglist",
        "name, id",
    ),
}

_ACTIVE_LEAD = "t.status = 'open' AND t.anonymized_at IS NULL"
_ACTIVE_CONTACT = "t.state = 'active' AND t.anonymized_at IS NULL"
_NO_ACTIVE_CONSENT = (
    "NOT EXISTS (SELECT 1 FROM consent_dataconsent d WHERE d.{field} = t.id AND d.state = 'active')"
)
_MEMBER = (
    "EXISTS (SELECT 1 FROM marketing_lists_marketinglistmember m {join} WHERE m.list_id = t.id"
)
# WHERE clauses of each view, hand-written (the floors); %(…)s are dates computed per run.
FLOOR_WHERE = {
    (Lead, "active"): _ACTIVE_LEAD,
    (Lead, "all"): "TRUE",
    (Lead, "anonymized"): "t.anonymized_at IS NOT NULL",
    (Lead, "disqualified"): "t.status = 'disqualified'",
    (Lead, "missing_consent"): f"{_ACTIVE_LEAD} AND {_NO_ACTIVE_CONSENT.format(field='lead_id')}",
    (Lead, "qualified"): "t.status = 'qualified'",
    (Contact, "active"): _ACTIVE_CONTACT,
    (Contact, "all"): "TRUE",
    (Contact, "anonymized"): "t.anonymized_at IS NOT NULL",
    (Contact, "missing_consent"): (
        f"{_ACTIVE_CONTACT} AND {_NO_ACTIVE_CONSENT.format(field='contact_id')}"
    ),
    (Contact, "inactive"): "t.state = 'inactive' AND t.anonymized_at IS NULL",
    (DataConsent, "active"): "t.state = 'active'",
    (DataConsent, "all"): "TRUE",
    (DataConsent, "expiring_2_weeks"): (
        "t.state = 'active' AND t.valid_until BETWEEN %(today)s AND %(in_two_weeks)s"
    ),
    (DataConsent, "expiring_this_year"): "t.state = 'active' AND t.valid_until < %(next_year)s",
    (DataConsent, "inactive"): "t.state = 'inactive'",
    (DataConsent, "inactive_anonymized"): "t.state = 'inactive' AND t.status_reason = 'anonymized'",
    (DataConsent, "inactive_cancelled"): "t.state = 'inactive' AND t.status_reason = 'cancelled'",
    (DataConsent, "inactive_expired"): "t.state = 'inactive' AND t.status_reason = 'expired'",
    (MarketingList, "all"): "t.active",
    (MarketingList, "static_accounts_not_processing"): (
        "t.list_type = 'static' AND "
        + _MEMBER.format(join="JOIN subjects_account a ON a.id = m.account_id")
        + " AND NOT a.processes_data)"
    ),
    (MarketingList, "static_contacts_without_consent"): (
        "t.list_type = 'static' AND "
        + _MEMBER.format(join="JOIN subjects_contact c ON c.id = m.contact_id")
        + " AND c.state = 'active' AND c.anonymized_at IS NULL AND NOT EXISTS (SELECT 1 FROM "
        "consent_dataconsent d WHERE d.contact_id = c.id AND d.state = 'active'))"
    ),
    (MarketingList, "static_leads_without_consent"): (
        "t.list_type = 'static' AND "
        + _MEMBER.format(join="JOIN subjects_lead c ON c.id = m.lead_id")
        + " AND c.status = 'open' AND c.anonymized_at IS NULL AND NOT EXISTS (SELECT 1 FROM "
        "consent_dataconsent d WHERE d.lead_id = c.id AND d.state = 'active'))"
    ),
}


def floor_sql(model, code: str) -> str:
    _, _, table, order = MODELS[model]
    order = ", ".join(f"t.{part}" for part in order.split(", "))
    return f"SELECT t.* FROM {table} t WHERE {FLOOR_WHERE[model, code]} ORDER BY {order} LIMIT 50"


def floor_params() -> dict:
    today = timezone.localdate()
    return {
        "today": today,
        "in_two_weeks": today + timedelta(days=14),
        "next_year": date(today.year + 1, 1, 1),
    }


def unbounded_counts(queries: list[dict]) -> list[str]:
    return [
        q["sql"]
        for q in queries
        if COUNT_RE.search(q["sql"]) and not BOUNDED_COUNT_RE.match(q["sql"].strip())
    ]


@contextmanager
def admin_page_size(model, size: int):
    model_admin = admin.site._registry[model]
    before = model_admin.list_per_page
    model_admin.list_per_page = size
    try:
        yield
    finally:
        model_admin.list_per_page = before


@contextmanager
def no_change():
    yield


def _explain(sql: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
        return "\n".join(row[0] for row in cursor.fetchall())


class PageBench:
    def __init__(self, client: Client, *, runs: int):
        self.client, self.runs = client, runs
        self.params = floor_params()

    def figures(self) -> list[Figure]:
        figures = []
        for model, (admin_name, api_name, _, _) in MODELS.items():
            label = model._meta.verbose_name_plural
            for code in dpo_views(model):
                figures.append(self.admin_figure(model, admin_name, label, code))
            for code in dpo_views(model):
                figures.append(self.api_figure(model, api_name, label, code))
        figures.append(self.dashboard_figure())
        return figures

    def admin_figure(self, model, url_name: str, label: str, code: str) -> Figure:
        url = f"{reverse(url_name)}?view={code}"
        return self.page_figure(
            f"admin {label} view={code}",
            model,
            code,
            url=url,
            sized=lambda size: (url, admin_page_size(model, size)),
        )

    def api_figure(self, model, url_name: str, label: str, code: str) -> Figure:
        name = f"API {label} view={code}"
        try:
            url = f"{reverse(url_name)}?view={code}"
        except NoReverseMatch:
            return skipped(name, BAR, "no such API endpoint yet")
        return self.page_figure(
            name, model, code, url=url, sized=lambda size: (f"{url}&page_size={size}", no_change())
        )

    def page_figure(self, name: str, model, code: str, *, url: str, sized) -> Figure:
        counts, captured = {}, []
        for size in PAGE_SIZES:
            page_url, context = sized(size)
            with context, captured_queries() as ctx:
                response = self.client.get(page_url)
            if response.status_code != 200:
                return Figure(name, None, None, BAR, False, note=f"HTTP {response.status_code}")
            counts[size] = len(ctx)
            captured += ctx.captured_queries
        first, _ = timed(lambda: self.client.get(url))
        runs = 1 if first > SLOW_SECONDS else self.runs
        cpu_before = time.process_time()
        seconds = median_seconds(lambda: self.client.get(url), runs=runs, warmup=0)
        cpu = (time.process_time() - cpu_before) / runs
        sql = floor_sql(model, code)
        floor = median_seconds(lambda: self._fetch(sql), runs=self.runs)
        unbounded = unbounded_counts(captured)
        same = counts[PAGE_SIZES[0]] == counts[PAGE_SIZES[1]]
        passed = seconds * 1000 <= BAR_MS and same and not unbounded
        note = (
            f"{counts[PAGE_SIZES[0]]}/{counts[PAGE_SIZES[1]]} queries at 10/100; "
            f"app CPU {cpu * 1000:.0f} ms"
        )
        if unbounded:
            note += f"; {len(unbounded)} unbounded COUNT(*)"
        figure = Figure(name, seconds * 1000, floor * 1000, BAR, passed, note=note)
        if not passed:
            figure.explain = self._slowest_plans(captured, unbounded)
        return figure

    def _fetch(self, sql: str) -> int:
        with connection.cursor() as cursor:
            cursor.execute(sql, self.params)
            return len(cursor.fetchall())

    def _slowest_plans(self, captured: list[dict], unbounded: list[str]) -> str:
        slowest = max(captured, key=lambda q: float(q["time"]))
        statements = [slowest["sql"], *[sql for sql in unbounded if sql != slowest["sql"]][:1]]
        return "\n\n".join(f"{sql}\n{_explain(sql)}" for sql in statements)

    def dashboard_figure(self) -> Figure:
        """The admin index: a bounded count of every view (informational, not a §7 bar)."""
        url = reverse("admin:index")
        # A deployment has the stored figures from the beat job. A fresh seed has none, and the
        # first visit's refresh (a background job, run inline here by the eager Celery of the
        # benchmark settings) would be counted as the page's own queries.
        if missing_figures():
            dashboard_figures_refresh()
        with captured_queries() as ctx:
            response = self.client.get(url)
        queries = list(ctx.captured_queries)  # read now: the next request clears the log
        if response.status_code != 200:
            return Figure(
                "admin dashboard", None, None, "", False, note=f"HTTP {response.status_code}"
            )
        seconds = median_seconds(lambda: self.client.get(url), runs=self.runs, warmup=0)
        unbounded = unbounded_counts(queries)
        return Figure(
            "admin dashboard (bounded counts of 23 views)",
            seconds * 1000,
            None,
            "info (no §7 bar); no unbounded COUNT(*)",
            False if unbounded else None,
            note=f"{len(queries)} queries"
            + (f"; {len(unbounded)} unbounded COUNT(*)" if unbounded else ""),
        )


def figures(client: Client, *, runs: int) -> list[Figure]:
    return PageBench(client, runs=runs).figures()
