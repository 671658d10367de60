"""GET|POST /unsubscribe/<token>/ — RFC 8058 one-click unsubscribe."""

import re

import pytest
from django.test import Client

from common.audit import Source
from consent.models import ComplianceProfile, ContactPointConsent
from consent.services.contact_points import suppression_add
from subjects.models import Lead
from tests import factories
from tests.preference_center.conftest import row_counts, status_of, unsubscribe_path

pytestmark = pytest.mark.django_db
ADDRESS = "reader@example.org"
OPTED_IN, OPTED_OUT = ContactPointConsent.Status.OPTED_IN, ContactPointConsent.Status.OPTED_OUT
Scope = ComplianceProfile.UnsubscribeScope
ONE_CLICK = "List-Unsubscribe=One-Click"


@pytest.fixture
def subscribed(catalog):
    """The address is opted in to the newsletter, both its topics, and to offers."""
    newsletter = catalog["newsletter"]
    factories.cp_consent(value=ADDRESS, purpose_obj=newsletter, status=OPTED_IN)
    for topic in (catalog["events"], catalog["product_news"]):
        factories.cp_consent(value=ADDRESS, purpose_obj=newsletter, topic=topic, status=OPTED_IN)
    factories.cp_consent(value=ADDRESS, purpose_obj=catalog["offers"], status=OPTED_IN)
    return catalog


def one_click(path: str, **extra):
    """What a mailbox provider sends: no cookies, no CSRF token, just the RFC 8058 body."""
    return Client(enforce_csrf_checks=True).post(
        path, ONE_CLICK, content_type="application/x-www-form-urlencoded", **extra
    )


def set_scope(profile, scope):
    profile.unsubscribe_scope = scope
    profile.save()


def test_one_click_with_topic_scope_opts_out_of_the_topic_only(profile, subscribed):
    set_scope(profile, Scope.TOPIC)
    path = unsubscribe_path(subscribed["newsletter"], ADDRESS, subscribed["events"])
    response = one_click(path, REMOTE_ADDR="192.0.2.50", HTTP_USER_AGENT="MailProvider/1")
    assert response.status_code == 200
    record = ContactPointConsent.objects.get(
        value=ADDRESS, purpose=subscribed["newsletter"], topic=subscribed["events"]
    )
    assert (record.status, record.source) == (OPTED_OUT, Source.ONE_CLICK_UNSUBSCRIBE)
    assert (record.ip_address, record.user_agent) == ("192.0.2.50", "MailProvider/1")
    assert status_of(ADDRESS, subscribed["newsletter"]) == OPTED_IN
    assert status_of(ADDRESS, subscribed["newsletter"], subscribed["product_news"]) == OPTED_IN
    assert status_of(ADDRESS, subscribed["offers"]) == OPTED_IN


def test_topic_scope_without_a_topic_opts_out_of_the_purpose(profile, subscribed):
    set_scope(profile, Scope.TOPIC)
    one_click(unsubscribe_path(subscribed["newsletter"], ADDRESS))
    assert status_of(ADDRESS, subscribed["newsletter"]) == OPTED_OUT


def test_purpose_scope_opts_out_of_the_whole_purpose(profile, subscribed):
    set_scope(profile, Scope.PURPOSE)
    one_click(unsubscribe_path(subscribed["newsletter"], ADDRESS, subscribed["events"]))
    assert status_of(ADDRESS, subscribed["newsletter"]) == OPTED_OUT
    assert status_of(ADDRESS, subscribed["newsletter"], subscribed["events"]) == OPTED_IN
    assert status_of(ADDRESS, subscribed["offers"]) == OPTED_IN


def test_all_commercial_scope_opts_out_of_every_commercial_purpose(profile, subscribed):
    set_scope(profile, Scope.ALL_COMMERCIAL)
    one_click(unsubscribe_path(subscribed["newsletter"], ADDRESS, subscribed["events"]))
    assert status_of(ADDRESS, subscribed["newsletter"]) == OPTED_OUT
    assert status_of(ADDRESS, subscribed["offers"]) == OPTED_OUT
    assert status_of(ADDRESS, subscribed["service"]) is None  # transactional is untouched


def test_the_get_page_shows_a_button_and_writes_nothing(client, profile, subscribed):
    before = row_counts()
    path = unsubscribe_path(subscribed["newsletter"], ADDRESS, subscribed["events"])
    response = client.get(path)
    html = response.content.decode()
    assert response.status_code == 200
    assert "Events" in html and ADDRESS in html
    assert re.search(
        r'<form method="post">\s*<input type="hidden" name="csrfmiddlewaretoken"', html
    )
    assert client.head(path).status_code == 200
    assert row_counts() == before


def test_the_page_button_needs_its_csrf_token(profile, subscribed):
    browser = Client(enforce_csrf_checks=True)
    path = unsubscribe_path(subscribed["newsletter"], ADDRESS, subscribed["events"])
    assert browser.post(path, {"action": "unsubscribe"}).status_code == 403
    assert status_of(ADDRESS, subscribed["newsletter"], subscribed["events"]) == OPTED_IN
    page = browser.get(path).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    response = browser.post(path, {"action": "unsubscribe", "csrfmiddlewaretoken": token})
    assert response.status_code == 200
    assert "You are unsubscribed" in response.content.decode()
    record = ContactPointConsent.objects.get(
        value=ADDRESS, purpose=subscribed["newsletter"], topic=subscribed["events"]
    )
    assert (record.status, record.source) == (OPTED_OUT, Source.ONE_CLICK_UNSUBSCRIBE)
    assert record.reason == "unsubscribe link"


def test_only_the_exact_one_click_body_skips_the_csrf_check(profile, subscribed):
    path = unsubscribe_path(subscribed["newsletter"], ADDRESS, subscribed["events"])
    for body in ("List-Unsubscribe=Yes", "action=unsubscribe", ""):
        response = Client(enforce_csrf_checks=True).post(
            path, body, content_type="application/x-www-form-urlencoded"
        )
        assert response.status_code == 403, body
    assert status_of(ADDRESS, subscribed["newsletter"], subscribed["events"]) == OPTED_IN


def test_one_click_as_multipart_form_data_works_too(profile, subscribed):
    path = unsubscribe_path(subscribed["newsletter"], ADDRESS, subscribed["events"])
    response = Client(enforce_csrf_checks=True).post(path, {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    assert status_of(ADDRESS, subscribed["newsletter"], subscribed["events"]) == OPTED_OUT


def test_an_opt_out_never_creates_a_lead_or_a_data_consent(profile, subscribed):
    one_click(unsubscribe_path(subscribed["newsletter"], ADDRESS))
    assert not Lead.objects.filter(email=ADDRESS).exists()


def test_a_suppressed_address_is_answered_but_left_a_bare_hash(profile, catalog):
    suppression_add(channel="email", value=ADDRESS)
    response = one_click(unsubscribe_path(catalog["newsletter"], ADDRESS))
    assert response.status_code == 200
    assert not ContactPointConsent.objects.filter(value=ADDRESS).exists()


def test_repeating_the_one_click_post_changes_nothing_more(profile, subscribed):
    path = unsubscribe_path(subscribed["newsletter"], ADDRESS, subscribed["events"])
    one_click(path, REMOTE_ADDR="192.0.2.50")
    before = row_counts()
    one_click(path, REMOTE_ADDR="192.0.2.50")
    assert row_counts() == before
