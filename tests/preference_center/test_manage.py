"""GET|POST /preferences/<token>/ — the manage page."""

import re

import pytest
from django.test import Client

from common.audit import Source
from consent.models import ContactPointConsent
from consent.services.contact_points import suppression_add
from tests import factories
from tests.preference_center.conftest import BROWSER_UA, manage_path, row_counts, status_of

pytestmark = pytest.mark.django_db
ADDRESS = "jane@example.org"
OPTED_IN, OPTED_OUT = ContactPointConsent.Status.OPTED_IN, ContactPointConsent.Status.OPTED_OUT


def checked(html: str, name: str, pk: int) -> bool:
    tag = re.search(rf'<input type="checkbox" name="{name}" value="{pk}"[^>]*>', html)
    assert tag, f"no {name} checkbox {pk}"
    return " checked" in tag.group(0)


def test_the_page_lists_commercial_purposes_topics_and_their_status(client, profile, catalog):
    factories.cp_consent(value=ADDRESS, purpose_obj=catalog["newsletter"], status=OPTED_IN)
    factories.cp_consent(
        value=ADDRESS, purpose_obj=catalog["newsletter"], topic=catalog["events"], status=OPTED_IN
    )
    response = client.get(manage_path(profile, ADDRESS))
    html = response.content.decode()
    assert response.status_code == 200
    assert ADDRESS in html and "Acme Stores" in html and "Pick what interests you." in html
    assert 'href="https://acme.example/privacy"' in html
    assert checked(html, "purpose", catalog["newsletter"].pk)
    assert checked(html, "topic", catalog["events"].pk)
    assert not checked(html, "topic", catalog["product_news"].pk)  # restrictive, not set
    assert checked(html, "purpose", catalog["offers"].pk)  # non-restrictive, not opted out
    assert "Service" not in html  # transactional purposes are not the customer's to manage


def test_a_purpose_that_is_opted_out_shows_its_topics_off(client, profile, catalog):
    for topic in (catalog["events"], catalog["product_news"]):
        factories.cp_consent(
            value=ADDRESS, purpose_obj=catalog["newsletter"], topic=topic, status=OPTED_IN
        )
    factories.cp_consent(value=ADDRESS, purpose_obj=catalog["newsletter"], status=OPTED_OUT)
    html = client.get(manage_path(profile, ADDRESS)).content.decode()
    assert not checked(html, "purpose", catalog["newsletter"].pk)
    assert not checked(html, "topic", catalog["events"].pk)
    assert not checked(html, "topic", catalog["product_news"].pk)


def test_get_and_head_never_write(client, profile, catalog):
    factories.cp_consent(value=ADDRESS, purpose_obj=catalog["newsletter"], status=OPTED_IN)
    before = row_counts()
    path = manage_path(profile, ADDRESS)
    assert client.get(path).status_code == 200
    assert client.head(path).status_code == 200
    assert client.get(path + "?purpose=1&topic=2&action=unsubscribe_all").status_code == 200
    assert row_counts() == before


def test_choosing_a_topic_opts_in_the_topic_and_its_purpose(client, profile, catalog):
    response = client.post(
        manage_path(profile, ADDRESS),
        {"topic": [catalog["events"].pk], "purpose": [catalog["offers"].pk], "action": "save"},
        REMOTE_ADDR="203.0.113.9",
        HTTP_USER_AGENT=BROWSER_UA,
    )
    assert response.status_code == 302
    assert response["Location"].endswith("?saved=1")
    record = ContactPointConsent.objects.get(
        value=ADDRESS, purpose=catalog["newsletter"], topic=None
    )
    assert record.status == OPTED_IN
    assert record.source == Source.PREFERENCE_CENTER
    assert (record.ip_address, record.user_agent) == ("203.0.113.9", BROWSER_UA)
    assert record.notice_version == "n3"
    assert status_of(ADDRESS, catalog["newsletter"], catalog["events"]) == OPTED_IN
    # Untouched rows are not written: offers stayed on (not_set), product news stayed off.
    assert status_of(ADDRESS, catalog["offers"]) is None
    assert status_of(ADDRESS, catalog["newsletter"], catalog["product_news"]) is None
    page = client.get(response["Location"]).content.decode()
    assert "Your preferences have been saved." in page


def test_opting_out_of_a_topic_records_only_that_topic(client, profile, catalog):
    newsletter, events = catalog["newsletter"], catalog["events"]
    factories.cp_consent(value=ADDRESS, purpose_obj=newsletter, status=OPTED_IN)
    factories.cp_consent(value=ADDRESS, purpose_obj=newsletter, topic=events, status=OPTED_IN)
    history_before = ContactPointConsent.history.count()
    client.post(
        manage_path(profile, ADDRESS),
        {"purpose": [newsletter.pk, catalog["offers"].pk], "topic": []},
    )
    assert status_of(ADDRESS, newsletter, events) == OPTED_OUT
    assert status_of(ADDRESS, newsletter) == OPTED_IN
    assert ContactPointConsent.history.count() == history_before + 1
    row = ContactPointConsent.history.latest("history_id")
    assert (row.status, row.history_source, row.topic_id) == (
        OPTED_OUT,
        "preference_center",
        events.pk,
    )


def test_unticking_a_purpose_opts_it_out_and_keeps_its_topic_records(client, profile, catalog):
    newsletter, events = catalog["newsletter"], catalog["events"]
    factories.cp_consent(value=ADDRESS, purpose_obj=newsletter, status=OPTED_IN)
    factories.cp_consent(value=ADDRESS, purpose_obj=newsletter, topic=events, status=OPTED_IN)
    client.post(
        manage_path(profile, ADDRESS), {"purpose": [catalog["offers"].pk], "topic": [events.pk]}
    )
    assert status_of(ADDRESS, newsletter) == OPTED_OUT
    assert status_of(ADDRESS, newsletter, events) == OPTED_IN  # shown off while the purpose is off


def test_an_unchanged_form_writes_nothing(client, profile, catalog):
    factories.cp_consent(value=ADDRESS, purpose_obj=catalog["newsletter"], status=OPTED_IN)
    before = row_counts()
    client.post(
        manage_path(profile, ADDRESS),
        {"purpose": [catalog["newsletter"].pk, catalog["offers"].pk]},
    )
    assert row_counts() == before


def test_unsubscribe_from_everything_opts_out_every_purpose_that_was_on(client, profile, catalog):
    factories.cp_consent(value=ADDRESS, purpose_obj=catalog["newsletter"], status=OPTED_IN)
    client.post(
        manage_path(profile, ADDRESS),
        {"purpose": [catalog["newsletter"].pk], "action": "unsubscribe_all"},
    )
    assert status_of(ADDRESS, catalog["newsletter"]) == OPTED_OUT
    assert status_of(ADDRESS, catalog["offers"]) == OPTED_OUT


def test_an_opt_in_gives_the_subjects_of_the_address_a_data_consent(client, profile, catalog):
    contact = factories.contact(email="Jane@Example.org")
    client.post(manage_path(profile, ADDRESS), {"topic": [catalog["events"].pk]})
    contact.refresh_from_db()
    consent = contact.data_consents.get()
    assert consent.policy == profile.data_policy
    assert consent.source == Source.PREFERENCE_CENTER
    assert contact.consent_level == 4
    assert contact.data_protection_consent == "explicit"


def test_a_suppressed_address_sees_a_neutral_message_and_nothing_is_written(
    client, profile, catalog
):
    suppression_add(channel="email", value=ADDRESS)
    before = row_counts()
    path = manage_path(profile, ADDRESS)
    page = client.get(path).content.decode()
    assert "cannot be changed here" in page
    assert 'name="purpose"' not in page
    response = client.post(path, {"topic": [catalog["events"].pk]})
    assert response.status_code == 200
    assert "cannot be changed here" in response.content.decode()
    assert row_counts() == before


def test_the_form_is_csrf_protected(profile, catalog):
    csrf_client = Client(enforce_csrf_checks=True)
    path = manage_path(profile, ADDRESS)
    assert csrf_client.post(path, {"topic": [catalog["events"].pk]}).status_code == 403
    assert status_of(ADDRESS, catalog["newsletter"], catalog["events"]) is None
    page = csrf_client.get(path).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    response = csrf_client.post(
        path, {"topic": [catalog["events"].pk], "csrfmiddlewaretoken": token}
    )
    assert response.status_code == 302
    assert status_of(ADDRESS, catalog["newsletter"], catalog["events"]) == OPTED_IN


def test_token_pages_are_private_and_uncached(client, profile, catalog):
    response = client.get(manage_path(profile, ADDRESS))
    assert response["Referrer-Policy"] == "no-referrer"
    assert "no-store" in response["Cache-Control"]
    assert "private" in response["Cache-Control"]


def test_an_sms_link_manages_the_phone_number(client, profile, catalog):
    phone = "+31612345678"
    response = client.post(
        manage_path(profile, phone, channel="sms"), {"purpose": [catalog["newsletter"].pk]}
    )
    assert response.status_code == 302
    assert status_of(phone, catalog["newsletter"], channel="sms") == OPTED_IN
    # Non-restrictive commercial purposes need an opt-in on sms: shown off until chosen.
    html = client.get(manage_path(profile, phone, channel="sms")).content.decode()
    assert not checked(html, "purpose", catalog["offers"].pk)


def test_a_browser_post_under_no_referrer_passes_the_csrf_check(profile, catalog):
    """Browsers post a no-referrer page's form with `Origin: null` and no Referer (HTTPS)."""
    browser = Client(enforce_csrf_checks=True)
    path = manage_path(profile, ADDRESS)
    page = browser.get(path, secure=True).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    data = {"topic": [catalog["events"].pk], "csrfmiddlewaretoken": token}
    forged = browser.post(path, data, secure=True, HTTP_ORIGIN="https://evil.example")
    assert forged.status_code == 403
    without_token = browser.post(
        path, {"topic": [catalog["events"].pk]}, secure=True, HTTP_ORIGIN="null"
    )
    assert without_token.status_code == 403
    assert status_of(ADDRESS, catalog["newsletter"], catalog["events"]) is None
    response = browser.post(path, data, secure=True, HTTP_ORIGIN="null")
    assert response.status_code == 302
    assert status_of(ADDRESS, catalog["newsletter"], catalog["events"]) == OPTED_IN


def test_form_pages_without_a_token_keep_the_same_origin_referrer_policy(client, profile):
    # Their forms post with a real Origin; only token pages need no-referrer.
    for path in ("/preferences/", f"/subscribe/{profile.slug}/"):
        response = client.get(path)
        assert response["Referrer-Policy"] == "same-origin"
        assert "no-store" in response["Cache-Control"]
