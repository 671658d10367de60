"""DESIGN §3.3: compliance profiles, purposes, topics and contact-point consent codes."""

import pytest

from consent.models import ContactPointConsent

API = "/api/v1/"
SOURCES = [
    "internal",
    "verbal",
    "form",
    "preference_center",
    "one_click_unsubscribe",
    "double_opt_in",
    "loaded",
    "api",
    "system",
]
ADDRESSES = {"email": "jane@example.org", "sms": "+31612345678", "voice": "+31612345678"}


def upsert(client, **body):
    return client.post(f"{API}contact-point-consents/", body, format="json")


@pytest.mark.parametrize("double_opt_in", ["off", "new_only", "always"])
@pytest.mark.parametrize("scope", ["topic", "purpose", "all_commercial"])
def test_profile_codes(as_dpo, double_opt_in, scope):
    response = as_dpo.post(
        f"{API}compliance-profiles/",
        {
            "name": f"P {double_opt_in} {scope}",
            "slug": f"p-{double_opt_in}-{scope}".replace("_", "-"),
            "double_opt_in": double_opt_in,
            "unsubscribe_scope": scope,
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["double_opt_in"], body["unsubscribe_scope"]) == (double_opt_in, scope)
    assert body["check_subject_consent"] is True
    assert {"notice_url", "notice_version", "sender_name", "data_policy", "is_default"} <= set(body)


@pytest.mark.parametrize("kind", ["commercial", "transactional", "tracking"])
@pytest.mark.parametrize("model", ["restrictive", "non_restrictive", "disabled"])
def test_purpose_codes(as_dpo, default_profile, kind, model):
    response = as_dpo.post(
        f"{API}purposes/",
        {
            "profile": default_profile.pk,
            "name": f"{kind} {model}",
            "kind": kind,
            "consent_model": model,
            "required_level": 3,
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    assert (response.json()["kind"], response.json()["consent_model"]) == (kind, model)


@pytest.mark.parametrize("level", [-1, 6])
def test_required_level_is_0_to_5(as_dpo, default_profile, level):
    response = as_dpo.post(
        f"{API}purposes/",
        {"profile": default_profile.pk, "name": "X", "kind": "commercial", "required_level": level},
        format="json",
    )
    assert response.status_code == 400 and "required_level" in response.json()


def test_topic_fields(as_dpo, commercial):
    body = as_dpo.post(
        f"{API}topics/",
        {"purpose": commercial.pk, "name": "Events", "description": "Invitations"},
        format="json",
    ).json()
    assert (body["purpose"], body["name"], body["description"], body["active"]) == (
        commercial.pk,
        "Events",
        "Invitations",
        True,
    )


@pytest.mark.parametrize("source", SOURCES)
def test_every_source_code_is_recorded(as_dpo, commercial, source):
    response = upsert(
        as_dpo,
        channel="custom",
        value="crm-1",
        purpose=commercial.pk,
        status="opted_out",
        source=source,
    )
    assert response.status_code == 201, response.content
    assert ContactPointConsent.objects.get().source == source


@pytest.mark.parametrize("channel", ["email", "sms", "voice", "custom"])
@pytest.mark.parametrize("status", ["opted_in", "opted_out", "not_set"])
def test_channel_and_status_codes(as_dpo, commercial, channel, status):
    value = ADDRESSES.get(channel, "crm-42")
    response = upsert(as_dpo, channel=channel, value=value, purpose=commercial.pk, status=status)
    assert response.status_code == 201, response.content
    assert (response.json()["channel"], response.json()["status"]) == (channel, status)


@pytest.mark.parametrize(("field", "value"), [("channel", "fax"), ("status", "maybe")])
def test_unknown_codes_are_field_errors(as_dpo, commercial, field, value):
    body = {"channel": "email", "value": "a@example.org", "purpose": commercial.pk}
    body.update({"status": "opted_in", field: value})
    response = upsert(as_dpo, **body)
    assert response.status_code == 400 and list(response.json()) == [field]


def test_contact_point_consent_json_fields(as_dpo, commercial):
    body = upsert(
        as_dpo,
        channel="email",
        value="a@example.org",
        purpose=commercial.pk,
        status="opted_in",
        requested_by="customer by phone",
        reason="asked",
        reason_description="Called the desk",
    ).json()
    assert {
        "channel",
        "value",
        "purpose",
        "topic",
        "status",
        "source",
        "reason",
        "reason_description",
        "requested_by",
        "captured_by",
        "captured_at",
        "ip_address",
        "user_agent",
        "notice_version",
        "expires_at",
    } <= set(body)
    assert (body["topic"], body["requested_by"]) == (None, "customer by phone")
