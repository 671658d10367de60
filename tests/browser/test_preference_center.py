"""The public pages in a real browser at phone width (DESIGN §3.6), with screenshots."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.urls import reverse

from consent.models import ComplianceProfile, ContactPointConsent
from preference_center.links import unsubscribe_url
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)
ADDRESS = "jane@example.org"


@pytest.fixture
def world(live_server, settings):
    settings.SITE_URL = live_server.url  # the links in the e-mails point at the live server
    profile = factories.compliance_profile(
        name="Acme news",
        slug="acme",
        sender_name="Acme Stores",
        notice_url="https://acme.example/privacy",
        intro_text="Pick what interests you.",
        footer_text="Acme Stores · 1 Market Street · Amsterdam",
        data_policy=factories.policy(consent_level=4),
    )
    newsletter = factories.purpose(profile=profile, name="Newsletter", required_level=4)
    events = factories.topic(purpose_obj=newsletter, name="Events", description="Invitations.")
    factories.topic(purpose_obj=newsletter, name="Product news")
    return {"profile": profile, "newsletter": newsletter, "events": events}


def link_in(message, kind: str) -> str:
    return re.search(rf"(https?://\S+/{kind}/\S+)", message.body).group(1)


def test_request_a_link_then_opt_out_of_a_topic_and_see_it_in_the_admin(
    phone, screenshot, live_server, world
):
    newsletter, events = world["newsletter"], world["events"]
    contact = factories.contact(first_name="Jane", last_name="Doe", email=ADDRESS)
    factories.cp_consent(value=ADDRESS, purpose_obj=newsletter, status="opted_in")
    factories.cp_consent(value=ADDRESS, purpose_obj=newsletter, topic=events, status="opted_in")
    get_user_model().objects.create_superuser("root", "root@example.org", "pw")

    phone.goto(f"{live_server.url}/preferences/?profile=acme")
    screenshot(phone, "01-link-request")
    phone.get_by_label("Email address").fill(ADDRESS)
    phone.get_by_role("button", name="Send me a link").click()
    phone.get_by_role("heading", name="Check your inbox").wait_for()
    screenshot(phone, "02-link-request-sent")

    (message,) = mail.outbox
    phone.goto(link_in(message, "preferences"))
    events_box = phone.get_by_role("checkbox", name=re.compile("^Events"))
    assert events_box.is_checked()
    screenshot(phone, "03-manage")
    events_box.uncheck()
    phone.get_by_role("button", name="Save my preferences").click()
    phone.get_by_text("Your preferences have been saved.").wait_for()
    assert not phone.get_by_role("checkbox", name=re.compile("^Events")).is_checked()
    screenshot(phone, "04-manage-saved")

    record = ContactPointConsent.objects.get(value=ADDRESS, topic=events)
    assert (record.status, record.source) == ("opted_out", "preference_center")

    phone.goto(f"{live_server.url}/admin/login/")
    phone.get_by_label("Username").fill("root")
    phone.get_by_label("Password").fill("pw")
    phone.get_by_role("button", name="Log in").click()
    phone.goto(live_server.url + reverse("admin:subjects_contact_timeline", args=[contact.pk]))
    timeline = phone.locator("#timeline")
    assert "preference_center" in timeline.inner_text()
    assert "changed in the preference center" in timeline.inner_text()
    screenshot(phone, "05-admin-timeline")
    phone.goto(
        live_server.url + reverse("admin:consent_contactpointconsent_history", args=[record.pk])
    )
    history = phone.locator("#change-history").inner_text()
    assert "opted_in" in history and "opted_out" in history
    screenshot(phone, "06-admin-contact-point-history")


def test_sign_up_confirm_and_unsubscribe(phone, screenshot, live_server, world):
    profile, newsletter, events = world["profile"], world["newsletter"], world["events"]
    profile.double_opt_in = ComplianceProfile.DoubleOptIn.ALWAYS
    profile.save()

    phone.goto(f"{live_server.url}/subscribe/acme/")
    screenshot(phone, "07-subscribe")
    phone.get_by_role("button", name="Subscribe").click()  # nothing filled in: errors
    phone.get_by_text("Choose at least one subscription.").wait_for()
    screenshot(phone, "08-subscribe-errors")
    phone.get_by_label("Email address").fill("New.Reader@Example.org")
    phone.get_by_role("checkbox", name=re.compile("^Events")).check()
    phone.get_by_role("button", name="Subscribe").click()
    phone.get_by_role("heading", name="Thank you").wait_for()
    screenshot(phone, "09-subscribe-done")
    assert not ContactPointConsent.objects.filter(value="new.reader@example.org").exists()

    (message,) = mail.outbox
    phone.goto(link_in(message, "subscribe/confirm"))
    screenshot(phone, "10-confirm")
    assert not ContactPointConsent.objects.filter(value="new.reader@example.org").exists()
    phone.get_by_role("button", name="Confirm my subscription").click()
    phone.get_by_text("Your subscription is confirmed.").wait_for()
    screenshot(phone, "11-confirm-done")
    records = ContactPointConsent.objects.filter(value="new.reader@example.org")
    assert {(r.topic_id, r.status, r.source) for r in records} == {
        (None, "opted_in", "double_opt_in"),
        (events.pk, "opted_in", "double_opt_in"),
    }

    phone.goto(
        unsubscribe_url(
            channel="email", value="new.reader@example.org", purpose=newsletter, topic=events
        )
    )
    screenshot(phone, "12-unsubscribe")
    phone.get_by_role("button", name="Unsubscribe").click()
    phone.get_by_role("heading", name="You are unsubscribed").wait_for()
    screenshot(phone, "13-unsubscribe-done")
    assert records.get(topic=events).status == "opted_out"


def test_dutch_page_and_the_invalid_link_page(phone, screenshot, live_server, world):
    phone.goto(f"{live_server.url}/subscribe/acme/?lang=nl")
    assert phone.locator("html").get_attribute("lang") == "nl"
    phone.get_by_role("heading", name="Inschrijven").wait_for()
    screenshot(phone, "14-subscribe-nl")
    response = phone.goto(f"{live_server.url}/preferences/not-a-valid-token/")
    assert response.status == 404
    assert response.headers["referrer-policy"] == "no-referrer"
    phone.get_by_role("heading", name="This link is no longer valid").wait_for()
    screenshot(phone, "15-invalid-link")
    # Keyboard users see where they are: the focused control gets a visible outline.
    phone.get_by_role("link", name=re.compile("Ask for a new link")).focus()
    outline = phone.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid"
