"""`preference_center.links.unsubscribe_headers` and GET /api/v1/unsubscribe-headers/."""

import re

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from rest_framework.test import APIClient

from preference_center.links import manage_url, unsubscribe_headers
from tests import factories
from tests.preference_center.conftest import status_of

pytestmark = pytest.mark.django_db
URL = "/api/v1/unsubscribe-headers/"
ADDRESS = "Reader@Example.org"


def path_of(header: str) -> str:
    return re.match(r"<https?://[^/]+(/unsubscribe/[^/>]+/)>", header).group(1)


def test_the_headers_carry_a_working_one_click_link(settings, catalog):
    settings.SITE_URL = "https://crm.example.org/"
    headers = unsubscribe_headers(
        channel="email", value=ADDRESS, purpose=catalog["newsletter"], topic=catalog["events"]
    )
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert headers["List-Unsubscribe"].startswith("<https://crm.example.org/unsubscribe/")
    assert "reader" not in headers["List-Unsubscribe"].lower()
    response = Client(enforce_csrf_checks=True).post(
        path_of(headers["List-Unsubscribe"]),
        headers["List-Unsubscribe-Post"],
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200
    assert status_of("reader@example.org", catalog["newsletter"], catalog["events"]) == "opted_out"


def test_a_mailto_target_is_added_when_configured(settings, catalog):
    settings.UNSUBSCRIBE_MAILTO = "unsubscribe@acme.example"
    header = unsubscribe_headers(channel="email", value=ADDRESS, purpose=catalog["newsletter"].pk)
    https, mailto = header["List-Unsubscribe"].split(", ")
    assert https.startswith("<http")
    assert mailto.startswith("<mailto:unsubscribe@acme.example?subject=unsubscribe%20")


def test_the_helper_refuses_what_makes_no_sense(catalog):
    other_topic = factories.topic()
    cases = [
        ({"channel": "fax", "value": ADDRESS, "purpose": catalog["newsletter"]}, "channel"),
        ({"channel": "email", "value": "nope", "purpose": catalog["newsletter"]}, "value"),
        ({"channel": "email", "value": ADDRESS, "purpose": 10**6}, "purpose"),
        ({"channel": "email", "value": ADDRESS, "purpose": catalog["service"]}, "purpose"),
        (
            {
                "channel": "email",
                "value": ADDRESS,
                "purpose": catalog["newsletter"],
                "topic": other_topic,
            },
            "topic",
        ),
    ]
    for kwargs, field in cases:
        with pytest.raises(ValidationError) as caught:
            unsubscribe_headers(**kwargs)
        assert field in caught.value.message_dict, kwargs


def test_the_manage_link_helper_opens_the_manage_page(client, profile, catalog):
    url = manage_url(profile=profile, channel="email", value=ADDRESS, language="de")
    assert url.endswith("?lang=de")
    path = url.split("://", 1)[1].split("/", 1)[1]
    response = client.get("/" + path)
    assert response.status_code == 200
    assert "reader@example.org" in response.content.decode()


@pytest.fixture
def api(make_user):
    def client_with(*perms):
        client = APIClient()
        client.force_authenticate(make_user(f"sender{len(perms)}", perms=perms))
        return client

    return client_with


SENDER = "preference_center.get_unsubscribe_headers"


def test_the_api_returns_both_headers(api, catalog):
    response = api(SENDER).get(
        URL,
        {
            "channel": "email",
            "value": ADDRESS,
            "purpose": catalog["newsletter"].pk,
            "topic": catalog["events"].pk,
        },
    )
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"List-Unsubscribe", "List-Unsubscribe-Post"}
    assert body["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert path_of(body["List-Unsubscribe"])


def test_the_api_needs_a_sender_permission(api, catalog):
    params = {"channel": "email", "value": ADDRESS, "purpose": catalog["newsletter"].pk}
    assert APIClient().get(URL, params).status_code == 401
    assert api("consent.view_purpose").get(URL, params).status_code == 403


@pytest.mark.parametrize(
    "perms",
    [
        ("consent.check_consent",),
        ("consent.view_contactpointconsent",),
        ("consent.check_consent", "consent.view_contactpointconsent"),
    ],
)
def test_checking_or_reading_consent_does_not_allow_minting_unsubscribe_links(api, catalog, perms):
    params = {"channel": "email", "value": ADDRESS, "purpose": catalog["newsletter"].pk}
    assert api(*perms).get(URL, params).status_code == 403


def test_the_api_answers_bad_input_with_a_message_per_field(api, catalog):
    client = api(SENDER)
    response = client.get(URL, {"channel": "fax", "value": "", "purpose": "abc"})
    assert response.status_code == 400
    assert set(response.json()) == {"channel", "value", "purpose"}
    response = client.get(
        URL, {"channel": "email", "value": "nope", "purpose": catalog["newsletter"].pk}
    )
    assert response.status_code == 400
    assert set(response.json()) == {"value"}
    response = client.get(
        URL, {"channel": "email", "value": ADDRESS, "purpose": catalog["service"].pk}
    )
    assert response.status_code == 400
    assert set(response.json()) == {"purpose"}
    response = client.get(
        URL,
        {
            "channel": "email",
            "value": ADDRESS,
            "purpose": catalog["newsletter"].pk,
            "topic": factories.topic().pk,
        },
    )
    assert response.status_code == 400
    assert set(response.json()) == {"topic"}
