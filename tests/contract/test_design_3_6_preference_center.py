"""DESIGN §3.6: the public pages, each in each language, and the token-page headers."""

import re
from datetime import UTC, datetime

import pytest
from django.test import Client
from django.urls import reverse

from consent.models import ContactPointConsent
from preference_center.tokens import AddressLink, SignUpRequest, UnsubscribeLink
from tests import factories

ADDRESS = "jane@example.org"
LANGUAGES = ("en", "nl", "fr", "de")


@pytest.fixture
def world(db):
    profile = factories.compliance_profile(slug="acme", unsubscribe_scope="purpose")
    purpose = factories.purpose(profile=profile, name="Newsletter")
    factories.cp_consent(value=ADDRESS, purpose_obj=purpose, status="opted_in")
    request = SignUpRequest(
        profile.pk, "email", ADDRESS, (purpose.pk,), (), datetime.now(UTC), "198.51.100.1", "UA"
    )
    return {
        "profile": profile,
        "purpose": purpose,
        "token_pages": {
            "manage": AddressLink(profile.pk, "email", ADDRESS).dumps(),
            "unsubscribe": UnsubscribeLink(profile.pk, "email", ADDRESS, purpose.pk).dumps(),
            "confirm": request.dumps(),
        },
    }


def public_paths(world) -> dict[str, str]:
    paths = {
        "link_request": reverse("preference_center:link_request"),
        "subscribe": reverse("preference_center:subscribe", args=[world["profile"].slug]),
    }
    for name, token in world["token_pages"].items():
        paths[name] = reverse(f"preference_center:{name}", args=[token])
    return paths


def test_the_contract_paths(world):
    paths = public_paths(world)
    assert paths["link_request"] == "/preferences/"
    assert paths["subscribe"] == "/subscribe/acme/"
    assert paths["manage"].startswith("/preferences/")
    assert paths["confirm"].startswith("/subscribe/confirm/")
    assert paths["unsubscribe"].startswith("/unsubscribe/")


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("page", ["link_request", "subscribe", "manage", "confirm", "unsubscribe"])
def test_every_public_page_in_every_language_by_lang_parameter(client, world, page, language):
    other = "de" if language != "de" else "fr"
    response = client.get(public_paths(world)[page], {"lang": language}, HTTP_ACCEPT_LANGUAGE=other)
    assert response.status_code == 200
    assert re.search(r'<html lang="([^"]+)"', response.text).group(1) == language
    assert response["Content-Language"] == language


@pytest.mark.parametrize("language", LANGUAGES)
def test_accept_language_alone_picks_the_language(client, world, language):
    response = client.get(public_paths(world)["unsubscribe"], HTTP_ACCEPT_LANGUAGE=language)
    assert response["Content-Language"] == language


@pytest.mark.parametrize("page", ["manage", "confirm", "unsubscribe"])
def test_valid_token_pages_are_not_referred_nor_stored(client, world, page):
    response = client.get(public_paths(world)[page])
    assert response.status_code == 200
    assert response["Referrer-Policy"] == "no-referrer"
    assert "no-store" in response["Cache-Control"]


def test_one_click_post_without_cookies_or_csrf_answers_2xx_and_opts_out(world):
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        public_paths(world)["unsubscribe"],
        "List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert 200 <= response.status_code < 300
    assert response["Referrer-Policy"] == "no-referrer"
    record = ContactPointConsent.objects.get(value=ADDRESS, purpose=world["purpose"])
    assert (record.status, record.source) == ("opted_out", "one_click_unsubscribe")
    assert not response.cookies.get("sessionid")
