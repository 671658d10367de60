"""The consent check in the admin, in a real browser at 1400 px (DESIGN §3.4, §5): "Check an
address" with its explanation in words, and a subject's "Check as of…" page, with screenshots."""

import time

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)
DESKTOP = {"width": 1400, "height": 900}


@pytest.fixture
def desktop(chromium, live_server):
    context = chromium.new_context(viewport=DESKTOP, locale="en-GB")
    context.set_default_timeout(15_000)
    page = context.new_page()
    get_user_model().objects.create_superuser("root", "root@example.org", "pw")
    page.goto(f"{live_server.url}/admin/login/")
    page.get_by_label("Username").fill("root")
    page.get_by_label("Password").fill("pw")
    page.get_by_role("button", name="Log in").click()
    yield page
    context.close()


def test_check_an_address_and_a_subject_as_of_a_past_instant(desktop, screenshot, live_server):
    profile = factories.compliance_profile(name="Acme news", slug="acme")
    marketing = factories.purpose(profile=profile, name="Marketing", required_level=4)
    newsletter = factories.topic(purpose_obj=marketing, name="Newsletter")
    maud = factories.contact(first_name="Maud", last_name="Wagner", email="maud@example.org")
    factories.consent(subject=maud, policy_obj=factories.policy(consent_level=4))
    factories.cp_consent(value="maud@example.org", purpose_obj=marketing, status="opted_in")
    factories.cp_consent(
        value="maud@example.org",
        purpose_obj=marketing,
        topic=newsletter,
        status="opted_in",
        source="form",
    )
    time.sleep(1.1)
    then = timezone.localtime().strftime("%Y-%m-%dT%H:%M:%S")
    time.sleep(1.1)
    factories.cp_consent(
        value="maud@example.org",
        purpose_obj=marketing,
        topic=newsletter,
        status="opted_out",
        source="preference_center",
    )

    # Any address, now: the decision in words and the explanation.
    desktop.goto(f"{live_server.url}/admin/consent/contactpointconsent/")
    desktop.get_by_role("link", name="Check an address").click()
    desktop.get_by_label("Channel").select_option("email")
    desktop.get_by_label("Address").fill("Maud@Example.org")
    desktop.get_by_label("Purpose").select_option(str(marketing.pk))
    desktop.get_by_label("Topic").select_option(str(newsletter.pk))
    desktop.get_by_role("button", name="Check").click()
    decision = desktop.locator("#decision")
    decision.wait_for()
    assert "✘ Will not send" in decision.inner_text()
    assert "opted out of Newsletter on " in decision.inner_text()
    assert "(preference center)" in decision.inner_text()
    assert "Maud Wagner" in desktop.locator("#explained-subjects").inner_text()
    screenshot(desktop, "consent-check-address-now")

    # The same address as of the instant before the opt-out.
    desktop.get_by_label("As of").fill(then)
    desktop.get_by_role("button", name="Check").click()
    desktop.locator("#decision").wait_for()
    text = desktop.locator("#decision").inner_text()
    assert "✔ Will send" in text and "opted in to Marketing on " in text
    assert "and to Newsletter on " in text and "(form)" in text
    screenshot(desktop, "consent-check-address-as-of")

    # The subject's page: "Check as of…".
    desktop.goto(f"{live_server.url}/admin/subjects/contact/{maud.pk}/change/")
    desktop.get_by_role("link", name="Check as of…").click()
    desktop.get_by_label("As of").fill(then)
    desktop.get_by_role("button", name="Check").click()
    center = desktop.locator("#consent-center-as-of")
    center.wait_for()
    row = center.locator("tr.topic-row", has_text="Newsletter")
    email_cell = row.locator("td.consent-cell").first
    assert "✔ Will send" in email_cell.inner_text()
    assert "opted in to Marketing on " in email_cell.inner_text()
    screenshot(desktop, "consent-check-subject-as-of")
