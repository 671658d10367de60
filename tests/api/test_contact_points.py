"""Compliance profiles, purposes, topics and contact-point consents through the API."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from consent.models import ComplianceProfile, ContactPointConsent, Purpose, Topic
from consent.services.contact_points import suppression_add
from marketing_lists.models import MarketingList
from tests import factories

PROFILES = "/api/v1/compliance-profiles/"
PURPOSES = "/api/v1/purposes/"
TOPICS = "/api/v1/topics/"
CONSENTS = "/api/v1/contact-point-consents/"
CURL = {"HTTP_USER_AGENT": "curl/8"}


@pytest.fixture
def default_profile(db):
    return ComplianceProfile.objects.default()


@pytest.fixture
def commercial(default_profile):
    return default_profile.purposes.get(kind="commercial")


@pytest.fixture
def events(commercial):
    return factories.topic(purpose_obj=commercial, name="Events")


def ids(response):
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def opt_in(client, purpose_obj, headers=None, **fields):
    """POST an email opt-in for ada@example.org; `fields` change or add body keys."""
    body = {"channel": "email", "value": "ada@example.org", "purpose": purpose_obj.pk}
    body["status"] = "opted_in"
    return client.post(CONSENTS, {**body, **fields}, format="json", **(headers or {}))


# ---------------------------------------------------------------------------------------------
# Compliance profiles


def test_profile_crud_records_history_with_source_api(as_dpo, dpo):
    created = as_dpo.post(
        PROFILES,
        {"name": "Newsletter brand", "slug": "brand", "double_opt_in": "always"},
        format="json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["is_default"], body["unsubscribe_scope"]) == (False, "topic")
    url = f"{PROFILES}{body['id']}/"
    assert as_dpo.patch(url, {"sender_name": "Brand"}, format="json").json()["sender_name"] == (
        "Brand"
    )
    history = ComplianceProfile.history.filter(id=body["id"]).order_by("history_id")
    assert [(h.history_change_reason, h.history_source, h.history_user) for h in history] == [
        ("created", "api", dpo),
        ("edited", "api", dpo),
    ]
    assert as_dpo.delete(url).status_code == 204
    assert not ComplianceProfile.objects.filter(pk=body["id"]).exists()


def test_profile_filters(as_dpo, default_profile):
    other = factories.compliance_profile()
    assert ids(as_dpo.get(PROFILES, {"is_default": "true"})) == [default_profile.pk]
    assert ids(as_dpo.get(PROFILES, {"slug": other.slug})) == [other.pk]
    assert as_dpo.get(PROFILES, {"is_default": "maybe"}).status_code == 400


def test_making_a_profile_the_default_switches_it_atomically(as_dpo, dpo, default_profile):
    other = factories.compliance_profile()
    response = as_dpo.patch(f"{PROFILES}{other.pk}/", {"is_default": True}, format="json")
    assert response.status_code == 200, response.content
    assert list(ComplianceProfile.objects.filter(is_default=True)) == [other]
    last = default_profile.history.latest()
    assert (last.is_default, last.history_change_reason, last.history_user) == (
        False,
        "no longer the default profile",
        dpo,
    )
    created = as_dpo.post(
        PROFILES, {"name": "Third", "slug": "third", "is_default": True}, format="json"
    )
    assert created.status_code == 201, created.content
    assert list(ComplianceProfile.objects.filter(is_default=True).values_list("slug")) == [
        ("third",)
    ]


def test_the_default_cannot_be_unset_or_deleted(as_dpo, admin_user, client_for, default_profile):
    url = f"{PROFILES}{default_profile.pk}/"
    response = as_dpo.patch(url, {"is_default": False}, format="json")
    assert response.status_code == 400
    assert "Exactly one compliance profile is the default" in response.json()["is_default"][0]
    response = client_for(admin_user).delete(url)
    assert response.status_code == 409
    assert "default" in response.json()["detail"]
    assert ComplianceProfile.objects.default() == default_profile


def test_profile_fields_are_validated(as_dpo, default_profile):
    response = as_dpo.post(
        PROFILES,
        {"name": "", "slug": default_profile.slug, "double_opt_in": "sometimes", "data_policy": 99},
        format="json",
    )
    assert response.status_code == 400
    assert set(response.json()) == {"name", "slug", "double_opt_in", "data_policy"}


def test_a_profile_whose_purposes_hold_consent_cannot_be_deleted(as_dpo):
    profile = factories.compliance_profile()
    purpose = factories.purpose(profile=profile)
    factories.cp_consent(value="ada@example.org", purpose_obj=purpose, status="opted_in")
    response = as_dpo.delete(f"{PROFILES}{profile.pk}/")
    assert response.status_code == 409
    assert "contact point consents" in response.json()["detail"]
    assert Purpose.objects.filter(pk=purpose.pk).exists()


# ---------------------------------------------------------------------------------------------
# Purposes and topics


def test_purpose_create_and_validation(as_dpo, default_profile):
    body = {
        "profile": default_profile.pk,
        "name": "Partners",
        "kind": "commercial",
        "consent_model": "non_restrictive",
        "required_level": 3,
    }
    created = as_dpo.post(PURPOSES, body, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["required_level"] == 3
    bad = as_dpo.post(
        PURPOSES,
        {**body, "name": "X", "kind": "spam", "consent_model": "maybe", "required_level": 6},
        format="json",
    )
    assert bad.status_code == 400
    assert set(bad.json()) == {"kind", "consent_model", "required_level"}
    duplicate = as_dpo.post(PURPOSES, body, format="json")
    assert duplicate.status_code == 400
    assert "non_field_errors" in duplicate.json()


def test_purposes_filter_by_profile_and_kind(as_dpo, default_profile, commercial):
    listed = ids(as_dpo.get(PURPOSES, {"profile": default_profile.pk, "kind": "commercial"}))
    assert listed == [commercial.pk]
    assert as_dpo.get(PURPOSES, {"kind": "spam"}).status_code == 400


def test_a_purpose_cannot_move_to_another_profile(as_dpo, commercial):
    other = factories.compliance_profile()
    response = as_dpo.patch(f"{PURPOSES}{commercial.pk}/", {"profile": other.pk}, format="json")
    assert response.status_code == 400
    assert list(response.json()) == ["profile"]


def test_deleting_a_purpose_or_topic_in_use_is_a_conflict(as_dpo, commercial, events):
    factories.cp_consent(
        value="ada@example.org", purpose_obj=commercial, topic=events, status="opted_in"
    )
    response = as_dpo.delete(f"{TOPICS}{events.pk}/")
    assert response.status_code == 409
    assert response.json()["detail"] == (
        "This topic is still used by contact point consents, so it cannot be deleted. "
        "Set active to false instead."
    )
    response = as_dpo.delete(f"{PURPOSES}{commercial.pk}/")
    assert response.status_code == 409
    assert "contact point consents" in response.json()["detail"]
    assert Topic.objects.filter(pk=events.pk).exists()


def test_a_purpose_a_marketing_list_uses_cannot_be_deleted(as_dpo):
    purpose = factories.purpose()
    MarketingList.objects.create(name="Subscribers", purpose=purpose)
    response = as_dpo.delete(f"{PURPOSES}{purpose.pk}/")
    assert response.status_code == 409
    assert "marketing lists" in response.json()["detail"]


def test_unused_purpose_is_deleted_with_its_topics(as_dpo):
    purpose = factories.purpose()
    topic = factories.topic(purpose_obj=purpose)
    assert as_dpo.delete(f"{PURPOSES}{purpose.pk}/").status_code == 204
    assert not Topic.objects.filter(pk=topic.pk).exists()


def test_topic_crud_and_validation(as_dpo, commercial):
    created = as_dpo.post(TOPICS, {"purpose": commercial.pk, "name": "Training"}, format="json")
    assert created.status_code == 201, created.content
    url = f"{TOPICS}{created.json()['id']}/"
    assert as_dpo.patch(url, {"active": False}, format="json").json()["active"] is False
    assert ids(as_dpo.get(TOPICS, {"purpose": commercial.pk, "active": "false"})) == [
        created.json()["id"]
    ]
    unknown = as_dpo.post(TOPICS, {"purpose": 999_999, "name": "X"}, format="json")
    assert (unknown.status_code, list(unknown.json())) == (400, ["purpose"])
    other = factories.purpose()
    moved = as_dpo.patch(url, {"purpose": other.pk}, format="json")
    assert (moved.status_code, list(moved.json())) == (400, ["purpose"])
    assert as_dpo.delete(url).status_code == 204


def test_configuration_writes_need_their_permissions(client_for, make_user, commercial):
    client = client_for(
        make_user(
            "topics", perms=["consent.view_purpose", "consent.view_topic", "consent.add_topic"]
        )
    )
    assert client.get(PURPOSES).status_code == 200
    assert client.get(PROFILES).status_code == 403
    assert client.post(PURPOSES, {}, format="json").status_code == 403
    assert client.delete(f"{PURPOSES}{commercial.pk}/").status_code == 403
    created = client.post(TOPICS, {"purpose": commercial.pk, "name": "Fairs"}, format="json")
    assert created.status_code == 201
    assert client.delete(f"{TOPICS}{created.json()['id']}/").status_code == 403


# ---------------------------------------------------------------------------------------------
# Contact-point consents: the upsert


def test_upsert_creates_then_answers_200_and_keeps_one_row(as_dpo, dpo, commercial):
    first = opt_in(as_dpo, commercial, CURL, value="Ada@Example.org")
    assert first.status_code == 201, first.content
    body = first.json()
    assert body["value"] == "ada@example.org"
    assert (body["source"], body["captured_by"], body["captured_by_name"]) == ("api", dpo.pk, "dpo")
    assert (body["ip_address"], body["user_agent"]) == ("127.0.0.1", "curl/8")
    assert body["notice_version"] == commercial.profile.notice_version
    assert body["topic"] is None

    record = ContactPointConsent.objects.get()
    assert record.history.count() == 1

    again = opt_in(as_dpo, commercial, CURL, value="ada@EXAMPLE.org")
    assert again.status_code == 200
    assert again.json()["id"] == record.pk
    assert record.history.count() == 1  # the same state and evidence: nothing written

    out = as_dpo.post(
        CONSENTS,
        {
            "channel": "email",
            "value": "ada@example.org",
            "purpose": commercial.pk,
            "status": "opted_out",
            "reason": "asked by phone",
            "requested_by": "customer by phone",
        },
        format="json",
    )
    assert out.status_code == 200
    assert out.json()["status"] == "opted_out"
    assert ContactPointConsent.objects.count() == 1
    latest = record.history.latest()
    assert record.history.count() == 2
    assert (latest.status, latest.history_source, latest.history_user) == ("opted_out", "api", dpo)
    assert latest.history_change_reason == "asked by phone"


def test_topic_records_are_separate_rows(as_dpo, commercial, events):
    assert opt_in(as_dpo, commercial).status_code == 201
    assert opt_in(as_dpo, commercial, topic=events.pk).status_code == 201
    assert opt_in(as_dpo, commercial, topic=events.pk).status_code == 200
    assert ContactPointConsent.objects.count() == 2


def test_given_evidence_overrides_the_request(as_dpo, commercial):
    response = opt_in(
        as_dpo,
        commercial,
        ip_address="192.0.2.7",
        user_agent="Kiosk",
        source="form",
        notice_version="2024-01",
        captured_at="2024-05-01T10:00:00Z",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["ip_address"], body["user_agent"], body["source"]) == (
        "192.0.2.7",
        "Kiosk",
        "form",
    )
    assert (body["notice_version"], body["captured_at"]) == ("2024-01", "2024-05-01T10:00:00Z")
    relayed = opt_in(as_dpo, commercial, value="bob@example.org", ip_address=None)
    assert relayed.json()["ip_address"] is None  # explicitly unknown, not the caller's


def test_phone_numbers_are_stored_in_e164(as_dpo, commercial):
    response = as_dpo.post(
        CONSENTS,
        {"channel": "sms", "value": "06 12345678", "purpose": commercial.pk, "status": "opted_in"},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["value"] == "+31612345678"


@pytest.mark.parametrize(
    ("change", "fields"),
    [
        ({"value": "not an address"}, {"value"}),
        ({"channel": "sms", "value": "12"}, {"value"}),
        ({"channel": "pigeon"}, {"channel"}),
        ({"purpose": 999_999}, {"purpose"}),
        ({"purpose": "abc", "status": "maybe"}, {"purpose", "status"}),
        ({"value": 123, "topic": [1]}, {"topic"}),
        ({"value": ""}, {"value"}),
        ({"value": "x" * 300 + "@example.org"}, {"value"}),
        ({"status": None}, {"status"}),
        ({"ip_address": "999.1.1.1"}, {"ip_address"}),
        ({"source": "carrier pigeon"}, {"source"}),
        ({"captured_at": "2999-01-01T00:00:00Z"}, {"captured_at"}),
        ({"expires_at": "2000-01-01T00:00:00Z"}, {"expires_at"}),
        ({"purpose": "9" * 5000}, {"purpose"}),
    ],
)
def test_invalid_input_is_a_400_per_field(as_dpo, commercial, change, fields):
    response = opt_in(as_dpo, commercial, **change)
    assert response.status_code == 400, response.content
    assert set(response.json()) == fields
    assert not ContactPointConsent.objects.exists()


def test_a_topic_of_another_purpose_is_refused(as_dpo, commercial):
    foreign = factories.topic()
    response = opt_in(as_dpo, commercial, topic=foreign.pk)
    assert response.status_code == 400
    assert response.json() == {"topic": ["This topic belongs to another purpose."]}


def test_required_fields_and_malformed_bodies(as_dpo):
    response = as_dpo.post(CONSENTS, {}, format="json")
    assert response.status_code == 400
    assert set(response.json()) == {"channel", "value", "purpose", "status"}
    response = as_dpo.post(CONSENTS, data="{oops", content_type="application/json")
    assert (response.status_code, list(response.json())) == (400, ["non_field_errors"])
    response = as_dpo.post(CONSENTS, data=[1], format="json")
    assert response.status_code == 400


def test_opting_in_a_suppressed_address_is_a_conflict(as_dpo, commercial):
    suppression_add(channel="email", value="gone@example.org")
    response = opt_in(as_dpo, commercial, value="Gone@example.org")
    assert response.status_code == 409
    assert "suppressed" in response.json()["detail"]
    assert not ContactPointConsent.objects.exists()


@pytest.mark.parametrize("status", ["opted_out", "not_set"])
def test_any_other_status_for_a_suppressed_address_is_answered_as_suppressed(
    as_dpo, commercial, status
):
    suppression_add(channel="email", value="gone@example.org")
    response = opt_in(as_dpo, commercial, value="Gone@example.org", status=status)
    assert response.status_code == 200
    body = response.json()
    assert body["suppressed"] is True and body["status"] == status
    assert "gone" not in response.content.decode().lower()  # the address is not repeated
    assert not ContactPointConsent.objects.exists()
    assert not ContactPointConsent.history.exists()


def test_records_are_never_updated_or_deleted_directly(as_dpo, commercial):
    record = factories.cp_consent(
        value="ada@example.org", purpose_obj=commercial, status="opted_in"
    )
    url = f"{CONSENTS}{record.pk}/"
    assert as_dpo.get(url).json()["value"] == "ada@example.org"
    assert as_dpo.put(url, {}, format="json").status_code == 405
    assert as_dpo.patch(url, {"status": "opted_out"}, format="json").status_code == 405
    assert as_dpo.delete(url).status_code == 405
    assert as_dpo.get(f"{CONSENTS}999999/").status_code == 404


def test_the_upsert_needs_add_and_change(client_for, make_user, commercial):
    view = "consent.view_contactpointconsent"
    reader = make_user("reader", perms=[view])
    assert client_for(reader).get(CONSENTS).status_code == 200
    assert opt_in(client_for(reader), commercial).status_code == 403
    adder = make_user("adder", perms=[view, "consent.add_contactpointconsent"])
    assert opt_in(client_for(adder), commercial).status_code == 403
    assert not ContactPointConsent.objects.exists()
    both = make_user(
        "both",
        perms=[view, "consent.add_contactpointconsent", "consent.change_contactpointconsent"],
    )
    assert opt_in(client_for(both), commercial).status_code == 201


def test_service_desk_records_consent(client_for, service_desk, commercial):
    response = opt_in(client_for(service_desk), commercial, source="verbal", requested_by="phone")
    assert response.status_code == 201


# ---------------------------------------------------------------------------------------------
# Contact-point consents: list filters


@pytest.fixture
def records(commercial, events):
    make = factories.cp_consent
    return {
        "ada": make(value="ada@example.org", purpose_obj=commercial, status="opted_in"),
        "ada_events": make(
            value="ada@example.org", purpose_obj=commercial, topic=events, status="opted_out"
        ),
        "bob": make(value="bob@example.org", purpose_obj=commercial, status="opted_out"),
        "sms": make(channel="sms", value="+31612345678", purpose_obj=commercial, status="opted_in"),
        "custom": make(
            channel="custom", value="Ada@Example.org", purpose_obj=commercial, status="opted_in"
        ),
    }


def test_value_is_normalized_before_matching(as_dpo, records):
    found = ids(as_dpo.get(CONSENTS, {"value": "Ada@Example.org", "channel": "email"}))
    assert set(found) == {records["ada"].pk, records["ada_events"].pk}
    everywhere = ids(as_dpo.get(CONSENTS, {"value": " Ada@Example.org "}))
    assert set(everywhere) == {records["custom"].pk, records["ada"].pk, records["ada_events"].pk}
    assert ids(as_dpo.get(CONSENTS, {"value": "06-1234 5678", "channel": "sms"})) == [
        records["sms"].pk
    ]


def test_other_filters(as_dpo, records, commercial, events):
    def found(**params):
        return set(ids(as_dpo.get(CONSENTS, params)))

    assert found(status="opted_out") == {records["ada_events"].pk, records["bob"].pk}
    assert found(topic=events.pk) == {records["ada_events"].pk}
    assert found(purpose=commercial.pk, topic__isnull="false") == {records["ada_events"].pk}
    assert found(channel="sms") == {records["sms"].pk}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"channel": "email", "value": "not-an-email"}, "value"),
        ({"status": "maybe"}, "status"),
        ({"channel": "fax"}, "channel"),
        ({"purpose": "abc"}, "purpose"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_filters_are_400_by_parameter(as_dpo, records, params, field):
    response = as_dpo.get(CONSENTS, params)
    assert response.status_code == 400
    assert list(response.json()) == [field]


def test_list_query_count_does_not_grow_with_the_page(as_dpo, commercial, dpo):
    for n in range(30):
        factories.cp_consent(
            value=f"p{n}@example.org", purpose_obj=commercial, status="opted_in", user=dpo
        )
    with CaptureQueriesContext(connection) as small:
        assert len(as_dpo.get(CONSENTS, {"page_size": 5}).json()["results"]) == 5
    with CaptureQueriesContext(connection) as large:
        rows = as_dpo.get(CONSENTS, {"page_size": 100}).json()["results"]
    assert len(rows) == 30
    assert {row["captured_by_name"] for row in rows} == {"dpo"}
    assert len(large) <= len(small)  # the first request also loaded the permissions
