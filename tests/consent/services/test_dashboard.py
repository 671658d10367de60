"""The dashboard's figures (consent/services/dashboard.py): the numbers are right for known data."""

from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine

from common.audit import Evidence
from consent.models import DashboardFigure
from consent.services.contact_points import contact_point_consent_set
from consent.services.dashboard import (
    dashboard_figures_refresh,
    expiry_months,
    trend_weeks,
)
from consent.services.data_consents import data_consent_cancel
from consent.tasks import refresh_dashboard_figures
from subjects import services as subject_services
from tests import factories

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 3, 18, 12, 0, tzinfo=UTC)  # a Wednesday


def figure(key: str) -> list[dict]:
    return DashboardFigure.objects.get(key=key).rows


def test_weeks_and_months_windows():
    weeks = trend_weeks(NOW.date())
    assert (len(weeks), weeks[-1], weeks[0]) == (26, date(2026, 3, 16), date(2025, 9, 22))
    months = expiry_months(NOW.date())
    assert months[0] == (date(2026, 3, 18), date(2026, 3, 31))
    assert months[-1] == (date(2027, 2, 1), date(2027, 2, 28))


@time_machine.travel(NOW, tick=False)
def test_active_subjects_are_counted_per_consent_level(dpo):
    marketing, profiling = factories.policy(consent_level=4), factories.policy(consent_level=5)
    for _ in range(3):
        factories.consent(subject=factories.contact(), policy_obj=marketing)
    factories.consent(subject=factories.contact(), policy_obj=profiling)
    factories.contact()  # level 0
    gone = factories.contact()
    subject_services.contact_deactivate(contact=gone, user=dpo)  # not active: not counted
    factories.consent(subject=factories.lead(), policy_obj=profiling)

    dashboard_figures_refresh()

    rows = {row["level"]: row for row in figure("subjects_by_level")}
    assert [rows[level]["contacts"] for level in range(6)] == [1, 0, 0, 0, 3, 1]
    assert [rows[level]["leads"] for level in range(6)] == [0, 0, 0, 0, 0, 1]
    assert rows[4]["label"] == "(4) Marketing"


@time_machine.travel(NOW, tick=False)
def test_expiring_consents_are_counted_per_month(dpo):
    contact = factories.contact()
    for valid_until in (date(2026, 3, 20), date(2026, 3, 31), date(2026, 4, 1), date(2027, 2, 28)):
        factories.consent(subject=contact, valid_until=valid_until)
    factories.consent(subject=contact, valid_until=date(2027, 3, 1))  # past the 12 months
    factories.consent(  # passed yesterday, not swept yet: not "expiring"
        subject=contact, given_at=NOW - timedelta(days=9), valid_until=date(2026, 3, 17)
    )
    cancelled = factories.consent(subject=contact, valid_until=date(2026, 5, 5))
    data_consent_cancel(consent=cancelled, user=dpo)

    dashboard_figures_refresh(keys=["expiring_by_month"])

    rows = figure("expiring_by_month")
    assert [row["month"] for row in rows][:3] == ["2026-03", "2026-04", "2026-05"]
    assert [row["data_consents"] for row in rows] == [2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]
    assert rows[0]["first_day"] == "2026-03-18"


def _set(value, purpose, status, *, topic=None, source="form", reason=""):
    contact_point_consent_set(
        channel="email",
        value=value,
        purpose=purpose,
        topic=topic,
        status=status,
        evidence=Evidence(source=source, reason=reason),
    )


def test_opt_ins_and_opt_outs_are_counted_per_week_purpose_topic_and_source():
    purpose = factories.purpose(name="Newsletter")
    events = factories.topic(purpose_obj=purpose, name="Events")
    with time_machine.travel(NOW - timedelta(weeks=30), tick=False):
        _set("old@example.org", purpose, "opted_in")  # before the 26 weeks
    with time_machine.travel(NOW - timedelta(weeks=2), tick=False):
        _set("a@example.org", purpose, "opted_in")
        _set("b@example.org", purpose, "opted_in", source="preference_center")
        _set("a@example.org", purpose, "opted_in", topic=events)
    with time_machine.travel(NOW - timedelta(days=1), tick=False):
        _set("a@example.org", purpose, "opted_out")
        _set("old@example.org", purpose, "opted_out", source="verbal")
        # Evidence changes on an unchanged status are not a new opt-out.
        _set("old@example.org", purpose, "opted_out", source="verbal", reason="asked again")

    with time_machine.travel(NOW, tick=False):
        dashboard_figures_refresh(keys=["opt_trend"])

    rows = {(r["week"], r["topic"], r["source"]): (r["opt_ins"], r["opt_outs"])
            for r in figure("opt_trend")}  # fmt: skip
    two_weeks_ago, this_week = "2026-03-02", "2026-03-16"
    assert rows == {
        (two_weeks_ago, None, "form"): (1, 0),
        (two_weeks_ago, None, "preference_center"): (1, 0),
        (two_weeks_ago, events.pk, "form"): (1, 0),
        (this_week, None, "form"): (0, 1),
        (this_week, None, "verbal"): (0, 1),
    }
    assert {r["purpose"] for r in figure("opt_trend")} == {purpose.pk}


def test_the_refresh_task_stores_every_figure_with_its_time():
    with time_machine.travel(NOW, tick=False):
        assert refresh_dashboard_figures.delay().get() == 3
    stored = DashboardFigure.objects.order_by("key")
    assert [f.key for f in stored] == ["expiring_by_month", "opt_trend", "subjects_by_level"]
    assert {f.computed_at for f in stored} == {NOW}
