"""The dashboard's pictures on the admin index (consent/reports/dashboard.py, config/admin.py):
chart, table, CSV, links to the view behind each number, freshness, permissions, and no scan."""

import csv
import io
import re
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse

from common.audit import Evidence
from consent.models import DashboardFigure
from consent.services.contact_points import contact_point_consent_set
from consent.services.dashboard import dashboard_figures_refresh
from consent.services.requests import data_subject_request_create
from tests import factories

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 3, 18, 12, 0, tzinfo=UTC)
INDEX = "/admin/"


@pytest.fixture
def world():
    with time_machine.travel(NOW - timedelta(days=3), tick=False):
        marketing = factories.policy(consent_level=4)
        for _ in range(2):
            factories.consent(
                subject=factories.contact(), policy_obj=marketing, valid_until=date(2026, 4, 2)
            )
        newsletter = factories.purpose(name="Newsletter")
        contact_point_consent_set(
            channel="email",
            value="a@example.org",
            purpose=newsletter,
            status="opted_in",
            evidence=Evidence(source="form"),
        )
        data_subject_request_create(kind="access", received_at=NOW - timedelta(days=40))
        data_subject_request_create(kind="erasure", received_at=NOW - timedelta(days=25))
    with time_machine.travel(NOW - timedelta(minutes=5), tick=False):
        dashboard_figures_refresh()
    return {"newsletter": newsletter}


def section(html: str, key: str) -> str:
    return re.search(rf'<section class="dpo-picture" id="{key}">(.*?)</section>', html, re.S)[1]


@time_machine.travel(NOW, tick=False)
def test_each_picture_has_a_chart_a_table_a_csv_link_and_its_freshness(admin_client, world):
    html = admin_client.get(INDEX).content.decode()
    for key in ("subjects_by_level", "expiring_by_month", "opt_trend", "requests"):
        part = section(html, key)
        assert "<svg" in part and "<rect" in part, key
        assert "<table>" in part, key
        assert reverse("admin:dashboard_csv", args=[key]) in part, key
    assert "Computed 2026-03-18 11:55 (5\xa0minutes ago)" in section(html, "subjects_by_level")
    assert "Live." in section(html, "requests")


@time_machine.travel(NOW, tick=False)
def test_the_numbers_link_to_the_filtered_view_behind_them(admin_client, world):
    html = admin_client.get(INDEX).content.decode()
    levels = section(html, "subjects_by_level")
    link = reverse("admin:subjects_contact_changelist") + "?view=active&amp;consent_level__exact=4"
    assert f'<a href="{link}">2</a>' in levels
    expiring = section(html, "expiring_by_month")
    link = (
        reverse("admin:consent_dataconsent_changelist")
        + "?view=active&amp;valid_until__gte=2026-04-01&amp;valid_until__lte=2026-04-30"
    )
    assert f'<a href="{link}">2</a>' in expiring
    requests = section(html, "requests")
    changelist = reverse("admin:consent_datasubjectrequest_changelist")
    assert f'<a href="{changelist}?view=overdue">1</a>' in requests
    assert f'<a href="{changelist}?view=due_7_days">1</a>' in requests
    assert f'<a href="{changelist}?view=open">2</a>' in requests


@time_machine.travel(NOW, tick=False)
def test_every_link_of_the_pictures_opens_a_changelist(admin_client, world):
    html = admin_client.get(INDEX).content.decode()
    links = set(re.findall(r'href="(/admin/[^"#]*\?[^"#]*)"', html))
    assert len(links) > 20
    for link in sorted(links)[:60]:
        response = admin_client.get(link.replace("&amp;", "&"))
        assert response.status_code == 200, link


@time_machine.travel(NOW, tick=False)
def test_the_trend_can_show_one_purpose_and_lists_the_breakdown(admin_client, world):
    newsletter = world["newsletter"]
    html = admin_client.get(INDEX, {"trend": f"purpose:{newsletter.pk}"}).content.decode()
    trend = section(html, "opt_trend")
    assert "Opt-ins and opt-outs per week, last 26 weeks — Purpose: Newsletter" in trend
    assert "Source: Form" in trend
    week = re.search(
        r"<th scope=\"row\">2026-03-09</th><td class=\"num\"><a href=\"([^\"]+)\">1<", trend
    )
    assert week and f"purpose__exact={newsletter.pk}" in week[1]


@time_machine.travel(NOW, tick=False)
def test_csv_of_each_picture(admin_client, world):
    def rows(key):
        response = admin_client.get(reverse("admin:dashboard_csv", args=[key]))
        assert response["Content-Type"] == "text/csv"
        return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))

    levels = rows("subjects_by_level")
    assert levels[0] == ["consent_level", "label", "active_leads", "active_contacts"]
    assert levels[5] == ["4", "(4) Marketing", "0", "2"]
    assert ["2026-04", "2026-04-01", "2026-04-30", "2"] in rows("expiring_by_month")
    assert rows("opt_trend")[1] == ["2026-03-09", "Newsletter", "", "Form", "1", "0"]
    assert rows("requests")[1:] == [
        ["open", "Open requests", "2"],
        ["due_7_days", "Requests due within 7 days", "1"],
        ["overdue", "Overdue requests", "1"],
    ]
    assert admin_client.get("/admin/dashboard/nothing.csv").status_code == 404


def test_a_user_sees_only_the_pictures_of_views_they_may_open(client, make_user, world):
    client.force_login(make_user("seller", perms=["consent.view_contactpointconsent"]))
    html = client.get(INDEX).content.decode()
    assert 'id="opt_trend"' in html
    assert 'id="subjects_by_level"' not in html and 'id="requests"' not in html
    assert client.get(reverse("admin:dashboard_csv", args=["requests"])).status_code == 404


def test_the_index_reads_stored_figures_in_a_bounded_number_of_queries(
    admin_client, world, django_assert_max_num_queries
):
    admin_client.get(INDEX)
    with django_assert_max_num_queries(40):
        admin_client.get(INDEX)
    # The figures are not recomputed by a page view: their stored time stays.
    assert DashboardFigure.objects.get(key="subjects_by_level").computed_at == NOW - timedelta(
        minutes=5
    )


def test_a_fresh_install_computes_the_figures_on_the_first_visit(admin_client):
    assert not DashboardFigure.objects.exists()
    admin_client.get(INDEX)  # tasks run eagerly here; with a worker, in the background
    assert DashboardFigure.objects.count() == 3


def test_refresh_now_recomputes_and_only_on_post(admin_client, world):
    assert admin_client.get(reverse("admin:dashboard_refresh")).status_code == 405
    response = admin_client.post(reverse("admin:dashboard_refresh"))
    assert response.status_code == 302
    assert DashboardFigure.objects.get(key="opt_trend").computed_at > NOW
