"""Issue 15 #18: the admin, the API docs and the public pages work under the
Content-Security-Policy — Chromium reports no violation, and the scripts still run."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from consent.reports.access_report import subject_access_report
from consent.services.dashboard import dashboard_figures_refresh
from consent.services.requests import data_subject_request_complete, data_subject_request_create
from tests import factories


@pytest.fixture
def violations(chromium):
    """A desktop page that records every CSP violation Chromium reports on its console."""
    context = chromium.new_context(viewport={"width": 1400, "height": 900}, locale="en-GB")
    context.set_default_timeout(15_000)
    page = context.new_page()
    found = []
    page.on(
        "console",
        lambda message: (
            found.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    yield page, found
    context.close()


def test_the_admin_and_the_api_docs_run_under_the_policy(violations, live_server):
    page, found = violations
    get_user_model().objects.create_superuser("root", "root@example.org", "pw")
    contact = factories.contact()
    page.goto(f"{live_server.url}/admin/login/")
    page.get_by_label("Username").fill("root")
    page.get_by_label("Password").fill("pw")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/admin/")
    for url in (
        reverse("admin:index"),
        reverse("admin:subjects_contact_changelist"),
        reverse("admin:subjects_contact_change", args=[contact.pk]),
        reverse("admin:consent_dataconsent_add"),  # date widgets, related-object popups
        reverse("admin:subjects_contact_access_report", args=[contact.pk]),
    ):
        page.goto(live_server.url + url)
        page.wait_for_load_state("networkidle")
    # The admin's scripts ran: the date widget added its calendar shortcut.
    page.goto(live_server.url + reverse("admin:consent_dataconsent_add"))
    page.locator(".datetimeshortcuts").first.wait_for()
    # Swagger UI (from the sidecar's static files) renders the schema.
    page.goto(f"{live_server.url}/api/v1/docs/")
    page.locator(".swagger-ui .info .title").wait_for()
    page.goto(f"{live_server.url}/preferences/")
    page.wait_for_load_state("networkidle")
    assert found == []


def test_the_dashboard_reports_and_consent_check_run_their_scripts_under_the_policy(
    violations, live_server
):
    """The pages that had inline styles or handlers: the dashboard (its trend choice submits
    itself through a static script), the access report (its Print button is shown by one),
    the completed request's report, and the consent check with its explanation."""
    page, found = violations
    root = get_user_model().objects.create_superuser("root", "root@example.org", "pw")
    contact = factories.contact(email="maud@example.org")
    purpose = factories.purpose(name="Newsletter")
    for n in range(3):
        factories.cp_consent(value=f"r{n}@example.org", purpose_obj=purpose, status="opted_in")
    factories.cp_consent(value="maud@example.org", purpose_obj=purpose, status="opted_in")
    dashboard_figures_refresh()
    access = data_subject_request_create(kind="access", contact=contact)
    report = subject_access_report(subject=contact, user=root)
    data_subject_request_complete(request=access, access_report=report, user=root)
    page.goto(f"{live_server.url}/admin/login/")
    page.get_by_label("Username").fill("root")
    page.get_by_label("Password").fill("pw")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/admin/")

    trend = page.locator("select[name=trend]")
    trend.wait_for()
    value = trend.locator("option").nth(1).get_attribute("value")
    trend.select_option(value)  # no button pressed: the static script submits the form
    page.wait_for_url(f"**trend={value.replace(':', '%3A')}**")
    assert page.locator("svg.bar-chart").count() >= 1

    for url in (
        reverse("admin:subjects_contact_access_report", args=[contact.pk]),
        reverse("admin:consent_datasubjectrequest_report", args=[access.pk]),
    ):
        page.goto(live_server.url + url)
        page.get_by_role("button", name="Print").wait_for()  # shown by print.js

    check = reverse("admin:consent_contactpointconsent_check")
    page.goto(
        f"{live_server.url}{check}?channel=email&value=maud%40example.org&purpose={purpose.pk}"
    )
    page.locator("#explained-records").wait_for()
    page.wait_for_load_state("networkidle")
    assert found == []
