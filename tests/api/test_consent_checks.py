"""The consent check before a send (`consent-checks/`), single and bulk, and the check-only
token a sending system holds."""

import pytest
from django.core.management import call_command
from django.utils.dateparse import parse_datetime
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from consent.models import ComplianceProfile, ContactPointConsent, Purpose
from consent.services.contact_points import suppression_add
from subjects.models import Contact
from tests import factories

CHECKS = "/api/v1/consent-checks/"
CHECK_ONLY = "consent.check_consent"
LIST_ENDPOINTS = [
    "/api/v1/accounts/",
    "/api/v1/leads/",
    "/api/v1/contacts/",
    "/api/v1/data-policies/",
    "/api/v1/data-consents/",
    "/api/v1/compliance-profiles/",
    "/api/v1/purposes/",
    "/api/v1/topics/",
    "/api/v1/contact-point-consents/",
    "/api/v1/marketing-lists/",
]


@pytest.fixture
def profile(db):
    return ComplianceProfile.objects.default()


@pytest.fixture
def commercial(profile):
    return profile.purposes.get(kind="commercial")


@pytest.fixture
def tracking(profile):
    return profile.purposes.get(kind="tracking")


@pytest.fixture
def transactional(profile):
    return profile.purposes.get(kind="transactional")


@pytest.fixture
def events(commercial):
    return factories.topic(purpose_obj=commercial, name="Events")


@pytest.fixture
def sender(client_for, make_user):
    """A sending system's client: it may check consent and do nothing else."""
    return client_for(make_user("mailer", perms=[CHECK_ONLY]))


def check(client, **body):
    return client.post(CHECKS, body, format="json")


def opted_in(value, purpose, topic=None):
    factories.cp_consent(value=value, purpose_obj=purpose, topic=topic, status="opted_in")


# ---------------------------------------------------------------------------------------------
# One check


def test_single_check_answers_the_decision(sender, commercial, tracking):
    opted_in("ada@example.org", commercial)
    opted_in("ada@example.org", tracking)
    response = check(sender, channel="email", value="Ada@Example.org", purpose=commercial.pk)
    assert response.status_code == 200, response.content
    assert response.json() == {"allowed": True, "reason": "opted_in", "tracking_allowed": True}

    response = check(sender, channel="email", value="bob@example.org", purpose=commercial.pk)
    assert response.json() == {
        "allowed": False,
        "reason": "no_purpose_opt_in",
        "tracking_allowed": False,
    }


def test_check_with_topic_and_profile(sender, profile, commercial, events):
    opted_in("ada@example.org", commercial)
    body = {"channel": "email", "value": "ada@example.org", "purpose": commercial.pk}
    response = check(sender, **body, topic=events.pk, profile=profile.pk)
    assert response.json()["reason"] == "no_topic_opt_in"
    other = factories.compliance_profile()
    response = check(sender, **body, profile=other.pk)
    assert response.status_code == 400
    assert list(response.json()) == ["profile"]


def test_disabled_purpose_is_not_checked(sender, transactional):
    suppression_add(channel="email", value="gone@example.org")
    response = check(sender, channel="email", value="gone@example.org", purpose=transactional.pk)
    assert response.json()["reason"] == "purpose_disabled"


def test_a_check_writes_nothing(
    sender, commercial, django_assert_max_num_queries, prepared_unverified
):
    with django_assert_max_num_queries(8) as queries:
        check(sender, channel="sms", value="06 12345678", purpose=commercial.pk)
    writes = ("INSERT", "UPDATE", "DELETE")
    assert not [q for q in queries.captured_queries if q["sql"].lstrip("(").startswith(writes)]
    assert queries.captured_queries  # it did read
    assert not ContactPointConsent.objects.exists()


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"value": "a@example.org", "purpose": 1}, {"channel": ["This field is required."]}),
        ({"channel": "fax", "value": "a@example.org", "purpose": 1}, {"channel"}),
        ({"channel": "email", "value": "nope", "purpose": 1}, {"value"}),
        ({"channel": "sms", "value": "12", "purpose": 1}, {"value"}),
        ({"channel": "email", "value": 42, "purpose": 1}, {"value"}),
        ({"channel": "email", "value": "a@example.org", "purpose": 999_999}, {"purpose"}),
        ({"channel": "email", "value": "a@example.org", "purpose": "one"}, {"purpose"}),
        ({"channel": "email", "value": "a@example.org", "purpose": True}, {"purpose"}),
        ({"channel": "email", "value": "a@example.org", "purpose": 2**64}, {"purpose"}),
        ({"channel": "email", "value": "a@example.org", "purpose": "9" * 5000}, {"purpose"}),
        ({"channel": "email", "value": "a@example.org", "purpose": 1, "topic": 2**63}, {"topic"}),
        ({"channel": "email", "value": "a@example.org", "purpose": 1, "profile": -1}, {"profile"}),
        ({"channel": "email", "value": "a@example.org", "purpose": 1, "topik": 3}, {"topik"}),
    ],
)
def test_invalid_single_checks_are_400_per_field(sender, commercial, body, errors):
    response = check(sender, **body)
    assert response.status_code == 400, response.content
    if isinstance(errors, dict):
        assert response.json() == errors
    else:
        assert set(response.json()) == errors


@pytest.mark.parametrize("body", ["[1, 2]", '"check"', "null", "{nope", "12"])
def test_a_body_that_is_not_a_json_object_is_400(sender, body):
    response = sender.post(CHECKS, data=body, content_type="application/json")
    assert response.status_code == 400
    assert list(response.json()) == ["non_field_errors"]


def test_only_json_is_accepted(sender, commercial):
    response = sender.post(CHECKS, {"channel": "email", "value": "a@example.org", "purpose": 1})
    assert response.status_code == 415


# ---------------------------------------------------------------------------------------------
# Bulk


def test_bulk_answers_in_order(sender, commercial, events, transactional):
    opted_in("ada@example.org", commercial)
    opted_in("ada@example.org", commercial, events)
    factories.cp_consent(
        value="bob@example.org", purpose_obj=commercial, topic=events, status="opted_out"
    )
    checks = [
        {"channel": "email", "value": "ada@example.org", "purpose": commercial.pk},
        {"channel": "email", "value": "BOB@example.org", "purpose": commercial.pk, "topic": None},
        {
            "channel": "email",
            "value": "bob@example.org",
            "purpose": commercial.pk,
            "topic": events.pk,
        },
        {"channel": "sms", "value": "+31612345678", "purpose": transactional.pk},
        {
            "channel": "email",
            "value": "Ada@example.org",
            "purpose": commercial.pk,
            "topic": events.pk,
        },
    ]
    response = sender.post(CHECKS, {"checks": checks}, format="json")
    assert response.status_code == 200, response.content
    assert [(r["allowed"], r["reason"]) for r in response.json()["results"]] == [
        (True, "opted_in"),
        (False, "no_purpose_opt_in"),
        (False, "topic_opted_out"),
        (True, "purpose_disabled"),
        (True, "opted_in"),
    ]


def test_bulk_of_nothing_is_nothing(sender):
    assert sender.post(CHECKS, {"checks": []}, format="json").json() == {"results": []}


def test_invalid_items_are_reported_per_item_and_field(sender, commercial):
    good = {"channel": "email", "value": "a@example.org", "purpose": commercial.pk}
    checks = [
        good,
        {**good, "value": "not an email"},
        {"channel": "email", "purpose": commercial.pk},
        "a string",
        {**good, "colour": "red"},
        {**good, "purpose": 2**70},
    ]
    response = sender.post(CHECKS, {"checks": checks}, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "checks[2].value": ["This field is required."],
        "checks[3]": ["Send the check as a JSON object."],
        "checks[4].colour": ["Unknown field."],
        "checks[5].purpose": ["Unknown purpose."],
    }
    # Once the shape is right, the values are checked, each under its own key too.
    checks = [good, {**good, "value": "not an email"}, {**good, "purpose": 999_999}]
    response = sender.post(CHECKS, {"checks": checks}, format="json")
    assert response.status_code == 400
    assert set(response.json()) == {"checks[1].value", "checks[2].purpose"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"checks": "all"}, "checks"),
        ({"checks": {"channel": "email"}}, "checks"),
        ({"checks": None}, "checks"),
        ({"checks": [], "channel": "email"}, "channel"),
    ],
)
def test_malformed_bulk_bodies_are_400(sender, body, field):
    response = sender.post(CHECKS, body, format="json")
    assert response.status_code == 400
    assert list(response.json()) == [field]


def test_more_than_10000_checks_is_400(sender, commercial):
    item = {"channel": "email", "value": "a@example.org", "purpose": commercial.pk}
    response = sender.post(CHECKS, {"checks": [item] * 10_001}, format="json")
    assert response.status_code == 400
    assert response.json() == {"checks": ["At most 10,000 checks per request; split the batch."]}
    response = sender.post(CHECKS, {"checks": [item] * 10_000}, format="json")
    assert response.status_code == 200
    assert len(response.json()["results"]) == 10_000


@pytest.fixture
def known_addresses(commercial, events):
    """Addresses with subjects and records, so every query of the check returns rows."""
    policy = factories.policy(consent_level=4)
    values = []
    for n in range(20):
        contact = factories.contact(email=f"known{n}@example.org")
        factories.consent(subject=contact, policy_obj=policy)
        opted_in(contact.email, commercial)
        if n % 2:
            opted_in(contact.email, commercial, events)
        values.append(contact.email)
    suppression_add(channel="email", value="gone@example.org")
    return [*values, "gone@example.org"]


@pytest.mark.parametrize("size", [1, 100, 2000])
def test_bulk_query_count_is_constant(
    sender,
    commercial,
    events,
    known_addresses,
    size,
    django_assert_max_num_queries,
    prepared_unverified,
):
    values = (known_addresses + [f"new{n}@example.org" for n in range(size)])[:size]
    checks = [
        {"channel": "email", "value": value, "purpose": commercial.pk}
        | ({"topic": events.pk} if n % 2 else {})
        for n, value in enumerate(values)
    ]
    # A third of them by SMS as well: subjects are then looked up by phone too.
    checks[::3] = [
        {"channel": "sms", "value": f"+3161{n:07d}", "purpose": commercial.pk}
        for n in range(len(checks[::3]))
    ]
    sender.post(CHECKS, {"checks": checks[:1]}, format="json")  # loads the user's permissions
    with django_assert_max_num_queries(5):
        response = sender.post(CHECKS, {"checks": checks}, format="json")
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert len(results) == size
    if size > 1:
        assert {r["reason"] for r in results} >= {"opted_in", "no_purpose_opt_in"}


# ---------------------------------------------------------------------------------------------
# Who may check


def test_check_only_user_can_check_and_nothing_else(sender, commercial):
    body = {"channel": "email", "value": "a@example.org", "purpose": commercial.pk}
    assert sender.post(CHECKS, body, format="json").status_code == 200
    for url in LIST_ENDPOINTS:
        assert sender.get(url).status_code == 403, url
    writes = {
        "/api/v1/contact-point-consents/": {**body, "status": "opted_in"},
        "/api/v1/contacts/": {"last_name": "X"},
        "/api/v1/topics/": {"purpose": commercial.pk, "name": "X"},
    }
    for url, data in writes.items():
        assert sender.post(url, data, format="json").status_code == 403, url
    assert sender.get(f"/api/v1/purposes/{commercial.pk}/").status_code == 403


def test_checking_needs_the_check_permission(client_for, make_user, commercial):
    reader = client_for(make_user("reader", perms=["consent.view_contactpointconsent"]))
    body = {"channel": "email", "value": "a@example.org", "purpose": commercial.pk}
    assert reader.post(CHECKS, body, format="json").status_code == 403
    assert client_for(None).post(CHECKS, body, format="json").status_code == 401


def test_get_is_not_offered(sender):
    assert sender.get(CHECKS).status_code == 405


# ---------------------------------------------------------------------------------------------
# The integrator's story, end to end with tokens


def test_acceptance_integrator_checks_before_sending(db, make_user, dpo, capsys):
    call_command("drf_create_token", "dpo")
    crm = APIClient()
    crm.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get(user=dpo).key}")
    mailer_user = make_user("mailer", perms=[CHECK_ONLY])
    mailer = APIClient()
    mailer.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=mailer_user).key}")

    contact = crm.post(
        "/api/v1/contacts/",
        {"first_name": "Ada", "last_name": "King", "email": "Ada@Example.org"},
        format="json",
    )
    assert contact.status_code == 201, contact.content
    policy = crm.post(
        "/api/v1/data-policies/",
        {"name": "Marketing", "consent_level": 4, "validity_days": 365},
        format="json",
    )
    consent = crm.post(
        "/api/v1/data-consents/",
        {"contact": contact.json()["id"], "policy": policy.json()["id"], "source": "form"},
        format="json",
    )
    assert consent.status_code == 201, consent.content
    assert Contact.objects.get().consent_level == 4

    purposes = crm.get("/api/v1/purposes/", {"kind": "commercial"}).json()["results"]
    commercial = next(p for p in purposes if p["profile"] == ComplianceProfile.objects.default().pk)
    topic = crm.post(
        "/api/v1/topics/", {"purpose": commercial["id"], "name": "Newsletter"}, format="json"
    ).json()
    opt_in = {"channel": "email", "value": "ada@example.org", "purpose": commercial["id"]}
    opt_in["status"] = "opted_in"
    assert crm.post("/api/v1/contact-point-consents/", opt_in, format="json").status_code == 201
    topic_opt_in = {**opt_in, "topic": topic["id"]}
    assert crm.post("/api/v1/contact-point-consents/", topic_opt_in, format="json").status_code == (
        201
    )

    question = {
        "channel": "email",
        "value": "ADA@example.org",
        "purpose": commercial["id"],
        "topic": topic["id"],
    }
    answer = mailer.post(CHECKS, question, format="json").json()
    assert (answer["allowed"], answer["reason"]) == (True, "opted_in")

    opt_out = {**topic_opt_in, "status": "opted_out", "reason": "unsubscribed"}
    assert crm.post("/api/v1/contact-point-consents/", opt_out, format="json").status_code == 200
    answer = mailer.post(CHECKS, question, format="json").json()
    assert (answer["allowed"], answer["reason"]) == (False, "topic_opted_out")
    assert mailer.get("/api/v1/contacts/").status_code == 403


@pytest.mark.parametrize("bad", [{}, [], 3, None, True])
def test_a_channel_or_value_that_is_not_text_is_a_field_error(client_for, dpo, bad):
    purpose = Purpose.objects.filter(profile__is_default=True).first()
    for field in ("channel", "value"):
        check = {"channel": "email", "value": "ada@example.org", "purpose": purpose.pk}
        check[field] = bad
        response = client_for(dpo).post(
            "/api/v1/consent-checks/", {"checks": [check]}, format="json"
        )
        assert response.status_code == 400, (field, response.content)
        assert f"checks[0].{field}" in response.json(), response.json()


def test_a_custom_id_with_a_nul_or_control_character_is_a_field_error(client_for, dpo):
    purpose = Purpose.objects.filter(profile__is_default=True).first()
    for value in ["crm\x00-1", "crm-\x07"]:
        response = client_for(dpo).post(
            "/api/v1/consent-checks/",
            {"checks": [{"channel": "custom", "value": value, "purpose": purpose.pk}]},
            format="json",
        )
        assert response.status_code == 400, response.content
        assert "checks[0].value" in response.json()


# ---------------------------------------------------------------------------------------------
# Explanations and the decision as of a past instant (DESIGN §3.4)


def test_explain_returns_the_explanation_single_and_bulk(sender, commercial):
    contact = factories.contact(email="maud@example.org")
    record = factories.cp_consent(
        value="maud@example.org", purpose_obj=commercial, status="opted_in", notice_version="v2"
    )
    body = {"channel": "email", "value": "maud@example.org", "purpose": commercial.pk}

    single = check(sender, **body, explain=True).json()
    bulk = check(sender, checks=[body, body], explain=True).json()

    assert single["reason"] == "insufficient_consent_level"
    explanation = single["explanation"]
    assert (explanation["rule"], explanation["suppressed"], explanation["required_level"]) == (
        "5",
        False,
        4,
    )
    assert [(s["type"], s["id"], s["consent_level"]) for s in explanation["subjects"]] == [
        ("contact", contact.pk, 0)
    ]
    (consulted,) = explanation["records"]
    assert (consulted["id"], consulted["status"], consulted["notice_version"]) == (
        record.pk,
        "opted_in",
        "v2",
    )
    assert consulted["captured_at"].endswith("Z")
    assert bulk["results"] == [single, single]
    assert "explanation" not in check(sender, **body).json()


def test_as_of_replays_the_past_and_is_echoed(sender, commercial):
    record = factories.cp_consent(
        value="ann@example.org", purpose_obj=commercial, status="opted_in"
    )
    factories.cp_consent(value="ann@example.org", purpose_obj=commercial, status="opted_out")
    body = {"channel": "email", "value": "ann@example.org", "purpose": commercial.pk}
    # The opt-in's own history row: the opt-out came after it.
    opted_in_at = record.history.order_by("history_date").first().history_date.isoformat()

    now = check(sender, **body).json()
    then = check(sender, **body, as_of=opted_in_at).json()
    many = check(sender, checks=[body], as_of=opted_in_at).json()

    assert now["reason"] == "purpose_opted_out"
    assert then == {
        "allowed": True,
        "reason": "opted_in",
        "tracking_allowed": False,
        "as_of": then["as_of"],
    }
    assert parse_datetime(then["as_of"]) == parse_datetime(opted_in_at)
    answer = {key: value for key, value in then.items() if key != "as_of"}
    assert many == {"results": [answer], "as_of": then["as_of"]}


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"as_of": "2999-01-01T00:00:00Z"}, "as_of"),
        ({"as_of": "3 March"}, "as_of"),
        ({"as_of": 20260303}, "as_of"),
        ({"explain": "yes"}, "explain"),
    ],
)
def test_invalid_explain_or_as_of_is_a_field_error(sender, commercial, extra, field):
    body = {"channel": "email", "value": "a@example.org", "purpose": commercial.pk}
    single = check(sender, **body, **extra)
    bulk = check(sender, checks=[body], **extra)
    assert single.status_code == bulk.status_code == 400
    assert list(single.json()) == list(bulk.json()) == [field]
