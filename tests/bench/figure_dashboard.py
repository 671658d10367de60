"""(h) The DPO dashboard, charts included (DESIGN §7: ≤ 300 ms at 1M subjects).

The page (`GET /admin/`, in-process test client, logged-in superuser) reads the pictures'
stored figures (`DashboardFigure`, refreshed by a Celery beat task) and the bounded counts of
every named view; no statement may be an unbounded COUNT(*). The bar is absolute and judged at
1M subjects only; below that the figure is informational. Floor: one hand-written SELECT of the
stored figures — the part of the page no design can avoid. The refresh job itself is reported
too (informational: it runs in the background, every DASHBOARD_REFRESH_MINUTES).
"""

from django.conf import settings
from django.db import connection
from django.test import Client

from consent.services.dashboard import dashboard_figures_refresh
from tests.bench.figure_lists import unbounded_counts
from tests.bench.fixtures import bench_user
from tests.bench.queries import captured_queries
from tests.bench.results import Figure, median_seconds, timed

BAR_MS = 300
JUDGED_FROM = 1_000_000
BAR = f"≤ {BAR_MS} ms at 1M subjects; no unbounded COUNT(*)"
FLOOR_SQL = "SELECT key, rows, computed_at FROM consent_dashboardfigure"


def _floor() -> int:
    with connection.cursor() as cursor:
        cursor.execute(FLOOR_SQL)
        return len(cursor.fetchall())


def figures(*, runs: int, contacts: int) -> list[Figure]:
    refresh_seconds, _ = timed(dashboard_figures_refresh)
    client = Client(HTTP_HOST="localhost")
    client.force_login(bench_user())

    def page():
        response = client.get("/admin/")
        assert response.status_code == 200, response.status_code
        assert b'id="dpo-pictures"' in response.content
        return response

    settings.DEBUG = True  # capture the SQL once
    with captured_queries() as ctx:
        page()
    queries = list(ctx.captured_queries)
    settings.DEBUG = False
    unbounded = unbounded_counts(queries)
    seconds = median_seconds(page, runs=runs)
    floor = median_seconds(_floor, runs=runs)
    judged = contacts >= JUDGED_FROM
    passed = (seconds * 1000 <= BAR_MS and not unbounded) if judged else None
    return [
        Figure(
            "dashboard (admin index, 4 charts + view counts)",
            seconds * 1000,
            floor * 1000,
            BAR,
            passed,
            note=f"{len(queries)} queries"
            + (f"; UNBOUNDED COUNT: {unbounded[0][:120]}" if unbounded else "")
            + ("" if judged else "; informational below 1M"),
        ),
        Figure(
            "dashboard figures refresh (Celery beat job)",
            refresh_seconds * 1000,
            None,
            "info (background job)",
            None,
        ),
    ]
