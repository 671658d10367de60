"""The DPO's morning in a real browser at 1400 px: the dashboard's pictures, a data subject
request answered from its page, and the access report's PDF (first page as a screenshot)."""

import shutil
import subprocess
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from consent.models import ComplianceProfile, DataSubjectRequest
from consent.services.dashboard import dashboard_figures_refresh
from consent.services.requests import data_subject_request_create
from tests import factories
from tests.browser.conftest import SCREENSHOTS

pytestmark = pytest.mark.django_db(transaction=True)
DESKTOP = {"width": 1400, "height": 900}


@pytest.fixture
def desktop(chromium):
    context = chromium.new_context(viewport=DESKTOP, locale="en-GB")
    context.set_default_timeout(20_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def morning():
    """A small organisation: subjects at several levels, consents expiring, opt-ins and
    opt-outs over the weeks, and requests in every state of urgency."""
    now = timezone.now()
    policies = [factories.policy(name=f"Level {n}", consent_level=n) for n in (1, 3, 4, 5)]
    for n in range(24):
        contact = factories.contact(first_name="Demo", last_name=f"Person{n}")
        if n % 5:
            factories.consent(
                subject=contact,
                policy_obj=policies[n % 4],
                valid_until=(now + timedelta(days=15 + 13 * n)).date(),
            )
    # A transactional test database may have been flushed of the fresh-install profile.
    profile = ComplianceProfile.objects.filter(is_default=True).first() or (
        factories.compliance_profile(name="Default", slug="default", is_default=True)
    )
    commercial = profile.purposes.filter(kind="commercial").first() or factories.purpose(
        profile=profile, name="Commercial", required_level=1
    )
    for n in range(18):
        factories.cp_consent(
            value=f"reader{n}@example.org",
            purpose_obj=commercial,
            status="opted_out" if n % 4 == 0 else "opted_in",
            source="form" if n % 2 else "preference_center",
        )
    maud = factories.contact(first_name="Maud", last_name="Wagner", email="maud@example.org")
    factories.consent(subject=maud, policy_obj=policies[2])
    factories.cp_consent(value="maud@example.org", purpose_obj=commercial, status="opted_in")
    data_subject_request_create(kind="erasure", received_at=now - timedelta(days=35))
    data_subject_request_create(kind="objection", received_at=now - timedelta(days=26))
    access = data_subject_request_create(
        kind="access", contact=maud, requester="Maud Wagner, by e-mail", received_at=now
    )
    dashboard_figures_refresh()
    get_user_model().objects.create_superuser("root", "root@example.org", "pw")
    return {"maud": maud, "access": access}


def log_in(page, live_server):
    page.goto(f"{live_server.url}/admin/login/")
    page.get_by_label("Username").fill("root")
    page.get_by_label("Password").fill("pw")
    page.get_by_role("button", name="Log in").click()


def test_the_dpo_reads_the_dashboard_answers_an_access_request_and_gets_the_pdf(
    desktop, screenshot, live_server, morning
):
    log_in(desktop, live_server)
    desktop.goto(f"{live_server.url}/admin/")
    pictures = desktop.locator("#dpo-pictures")
    pictures.wait_for()
    for title in (
        "Active subjects by consent level",
        "Data consents expiring per month (next 12 months)",
        "Opt-ins and opt-outs per week, last 26 weeks",
        "Data subject requests",
    ):
        assert title in pictures.inner_text()
    assert desktop.locator("#dpo-pictures svg.bar-chart").count() == 4
    assert "Computed" in desktop.locator("#subjects_by_level .freshness").inner_text()
    screenshot(desktop, "dashboard-01-index")

    # A bar is a link to the filtered view behind it.
    desktop.locator("#requests svg a").nth(2).click()
    desktop.wait_for_url("**view=overdue**")
    assert "Erasure (Art. 17)" in desktop.locator("#result_list").inner_text()
    screenshot(desktop, "dashboard-02-overdue-requests")

    access = morning["access"]
    desktop.goto(
        live_server.url + reverse("admin:consent_datasubjectrequest_change", args=[access.pk])
    )
    desktop.get_by_role("link", name="Complete").click()
    desktop.get_by_label("Outcome").fill("Report e-mailed to the person.")
    screenshot(desktop, "dashboard-03-complete-access-request")
    desktop.get_by_role("button", name="Complete").click()
    desktop.get_by_role("link", name="Access report as sent").click()
    assert "Maud Wagner" in desktop.locator("#report-subject-name").inner_text()
    screenshot(desktop, "dashboard-04-report-as-sent")
    assert DataSubjectRequest.objects.get(pk=access.pk).status == "done"

    with desktop.expect_download() as download:
        desktop.get_by_role("link", name="Download PDF").click()
    pdf = SCREENSHOTS / "access-report.pdf"
    download.value.save_as(pdf)
    assert pdf.read_bytes().startswith(b"%PDF")
    if shutil.which("pdftoppm"):
        subprocess.run(
            [
                "pdftoppm",
                "-png",
                "-r",
                "110",
                "-f",
                "1",
                "-l",
                "1",
                "-singlefile",
                str(pdf),
                str(SCREENSHOTS / "access-report-pdf-page-1"),
            ],
            check=True,
        )
        assert (SCREENSHOTS / "access-report-pdf-page-1.png").stat().st_size > 10_000
