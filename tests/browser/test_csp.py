"""Issue 15 #18: the admin, the API docs and the public pages work under the
Content-Security-Policy — Chromium reports no violation, and the scripts still run."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

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
