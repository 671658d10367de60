"""GET|POST /preferences/ — ask for a manage link; rate limits."""

import re

import pytest
import time_machine
from django.core import mail
from django.test import Client
from django.urls import reverse

from consent.models import ComplianceProfile, Purpose
from consent.services.contact_points import suppression_add
from preference_center.views import client_ip
from tests import factories
from tests.preference_center.conftest import row_counts

pytestmark = pytest.mark.django_db
PATH = "/preferences/"


@pytest.fixture
def request_link(client, django_capture_on_commit_callbacks):
    def post(email, *, client=client, path=PATH, **extra):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(path, {"email": email}, **extra)

    return post


def test_the_form_asks_for_an_email_address(client):
    html = client.get(PATH).content.decode()
    assert '<label for="id_email">Email address</label>' in html
    assert 'type="email"' in html and "csrfmiddlewaretoken" in html


def test_known_and_unknown_addresses_get_the_same_answer(request_link, profile, catalog):
    factories.cp_consent(
        value="known@example.org", purpose_obj=catalog["offers"], status="opted_in"
    )
    factories.contact(email="Subject@Example.org")
    suppression_add(channel="email", value="gone@example.org")
    path = f"{PATH}?profile={profile.slug}"
    bodies = {
        address: request_link(address, path=path).content.replace(address.encode(), b"ADDRESS")
        for address in (
            "known@example.org",
            "subject@example.org",
            "nobody@example.org",
            "gone@example.org",
        )
    }
    assert len(set(bodies.values())) == 1
    assert b"we have just sent it a personal link" in bodies["nobody@example.org"]
    # Only the addresses we hold are mailed: no mail to strangers or erased addresses.
    assert sorted(m.to[0] for m in mail.outbox) == ["known@example.org", "subject@example.org"]


def test_the_mailed_link_opens_the_manage_page_of_that_address(
    request_link, client, profile, catalog
):
    factories.cp_consent(
        value="known@example.org", purpose_obj=catalog["offers"], status="opted_in"
    )
    request_link("Known@Example.org", path=f"{PATH}?profile={profile.slug}")
    (message,) = mail.outbox
    assert message.subject == "Your link to manage your preferences"
    assert "Acme Stores" in message.body and "180 days" in message.body
    html_part = message.alternatives[0].content
    assert "<html" in html_part and "Choose what I receive" in html_part
    url = re.search(r"https?://[^/\s]+(/preferences/[^/\s]+/)", message.body)
    page = client.get(url.group(1))
    assert page.status_code == 200
    assert "known@example.org" in page.content.decode()


def test_the_default_profile_is_used_without_a_profile_parameter(request_link):
    default = ComplianceProfile.objects.default()
    commercial = default.purposes.get(kind=Purpose.Kind.COMMERCIAL)
    factories.cp_consent(value="known@example.org", purpose_obj=commercial, status="opted_in")
    request_link("known@example.org")
    assert len(mail.outbox) == 1


def test_an_invalid_address_is_a_form_error(request_link):
    response = request_link("nope")
    assert response.status_code == 200
    assert "Enter a valid email address." in response.content.decode()
    assert mail.outbox == []


def test_mails_per_address_are_limited_but_the_answer_is_not(
    request_link, settings, profile, catalog
):
    """Issue 15 #16: posting a victim's address many times cannot lock the victim out. Past the
    per-address limit the answer stays the same; only no further mail is sent."""
    settings.PREFERENCE_RATE_LIMIT_PER_ADDRESS = 2
    factories.cp_consent(
        value="known@example.org", purpose_obj=catalog["offers"], status="opted_in"
    )
    path = f"{PATH}?profile={profile.slug}"
    attacker = [
        request_link("known@example.org", path=path, REMOTE_ADDR=f"192.0.2.{n}") for n in range(5)
    ]
    victim = request_link("known@example.org", path=path, REMOTE_ADDR="198.51.100.99")
    assert [r.status_code for r in attacker] == [200] * 5
    assert victim.status_code == 200
    assert b"we have just sent it a personal link" in victim.content
    assert len({r.content for r in [*attacker, victim]}) == 1
    # The mails the attacker caused went to the victim, each with a working link.
    assert [m.to for m in mail.outbox] == [["known@example.org"]] * 2
    assert request_link("other@example.org", path=path, REMOTE_ADDR="192.0.2.1").status_code == 200


def test_requests_per_ip_are_limited_for_known_and_unknown_addresses(request_link, settings):
    settings.PREFERENCE_RATE_LIMIT_PER_IP = 3
    statuses = [
        request_link(f"person{n}@example.org", REMOTE_ADDR="198.51.100.7").status_code
        for n in range(4)
    ]
    assert statuses == [200, 200, 200, 429]
    response = request_link("person9@example.org", REMOTE_ADDR="198.51.100.7")
    assert response.status_code == 429
    assert "Too many requests" in response.content.decode()
    assert int(response["Retry-After"]) > 0
    assert request_link("person9@example.org", REMOTE_ADDR="198.51.100.8").status_code == 200


def test_the_sign_up_form_is_rate_limited_too(client, settings, profile, catalog):
    settings.PREFERENCE_RATE_LIMIT_PER_IP = 2
    path = reverse("preference_center:subscribe", args=[profile.slug])
    data = {"topic": [catalog["events"].pk]}
    statuses = [
        client.post(path, {**data, "email": f"p{n}@example.org"}).status_code for n in range(3)
    ]
    assert statuses == [200, 200, 429]
    assert row_counts()[0] == 4  # two sign-ups (purpose + topic each), the third refused


def test_the_rate_limit_window_ends(request_link, settings):
    settings.PREFERENCE_RATE_LIMIT_PER_IP = 1
    settings.PREFERENCE_RATE_LIMIT_WINDOW_SECONDS = 60
    with time_machine.travel("2025-06-01 10:00:00+00:00", tick=False) as traveller:
        assert request_link("a@example.org").status_code == 200
        assert request_link("a@example.org").status_code == 429
        traveller.shift(61)
        assert request_link("a@example.org").status_code == 200


def test_the_link_request_is_csrf_protected():
    assert (
        Client(enforce_csrf_checks=True).post(PATH, {"email": "a@example.org"}).status_code == 403
    )


def test_behind_a_proxy_the_configured_header_names_the_client(rf, settings):
    request = rf.get("/", HTTP_X_FORWARDED_FOR="203.0.113.1, 198.51.100.2", REMOTE_ADDR="10.0.0.1")
    assert client_ip(request) == "10.0.0.1"  # not configured: the header is not trusted
    settings.PREFERENCE_CLIENT_IP_HEADER = "HTTP_X_FORWARDED_FOR"
    assert client_ip(request) == "198.51.100.2"  # the entry the trusted proxy appended
    assert client_ip(rf.get("/", REMOTE_ADDR="10.0.0.1")) == "10.0.0.1"
    assert client_ip(rf.get("/", HTTP_X_FORWARDED_FOR="not-an-ip", REMOTE_ADDR="10.0.0.1")) is None
