"""DESIGN §3.4: every reason code of the decision, through the HTTP endpoint, single and bulk."""

import pytest

from consent.models import Purpose
from consent.services.contact_points import suppression_add
from tests import factories

CHECKS = "/api/v1/consent-checks/"


@pytest.fixture
def world(db, default_profile, commercial, policy):
    offers = factories.purpose(
        profile=default_profile,
        name="Offers",
        consent_model=Purpose.ConsentModel.NON_RESTRICTIVE,
    )
    w = {
        "commercial": commercial,
        "transactional": default_profile.purposes.get(kind="transactional"),
        "offers": offers,
        "events": factories.topic(purpose_obj=commercial, name="Events"),
        "tips": factories.topic(purpose_obj=offers, name="Tips"),
    }
    suppression_add(channel="email", value="suppressed@example.org")
    factories.contact(email="restricted@example.org", restricted=True)
    factories.contact(email="level0@example.org")
    picky = factories.contact(email="picky@example.org", allow_bulk_email=False)
    factories.consent(subject=picky, policy_obj=policy)
    factories.cp_consent(value="out@example.org", purpose_obj=offers, status="opted_out")
    factories.cp_consent(
        value="topic-out@example.org", purpose_obj=offers, topic=w["tips"], status="opted_out"
    )
    for value in ("no-topic@example.org", "in@example.org"):
        factories.cp_consent(value=value, purpose_obj=commercial, status="opted_in")
    factories.cp_consent(
        value="in@example.org", purpose_obj=commercial, topic=w["events"], status="opted_in"
    )
    return w


# (value, purpose, topic) → (allowed, reason): one row per rule of the table.
CASES = [
    ("any@example.org", "transactional", None, True, "purpose_disabled"),
    ("suppressed@example.org", "commercial", None, False, "suppressed"),
    ("restricted@example.org", "offers", None, False, "subject_restricted"),
    ("level0@example.org", "commercial", None, False, "insufficient_consent_level"),
    ("picky@example.org", "commercial", None, False, "subject_preference"),
    ("out@example.org", "offers", None, False, "purpose_opted_out"),
    ("topic-out@example.org", "offers", "tips", False, "topic_opted_out"),
    ("nobody@example.org", "commercial", None, False, "no_purpose_opt_in"),
    ("no-topic@example.org", "commercial", "events", False, "no_topic_opt_in"),
    ("in@example.org", "commercial", "events", True, "opted_in"),
    ("nobody@example.org", "offers", "tips", True, "not_opted_out"),
]


def question(world, value, purpose, topic) -> dict:
    body = {"channel": "email", "value": value, "purpose": world[purpose].pk}
    if topic:
        body["topic"] = world[topic].pk
    return body


@pytest.mark.parametrize(("value", "purpose", "topic", "allowed", "reason"), CASES)
def test_single_check_answers_each_reason_code(
    as_dpo, world, value, purpose, topic, allowed, reason
):
    response = as_dpo.post(CHECKS, question(world, value, purpose, topic), format="json")
    assert response.status_code == 200, response.content
    answer = response.json()
    assert (answer["allowed"], answer["reason"]) == (allowed, reason)
    assert isinstance(answer["tracking_allowed"], bool)


def test_bulk_check_answers_the_same_codes_in_order(as_dpo, world):
    checks = [question(world, *case[:3]) for case in CASES]
    response = as_dpo.post(CHECKS, {"checks": checks[::-1]}, format="json")
    assert response.status_code == 200, response.content
    answers = [(r["allowed"], r["reason"]) for r in response.json()["results"]]
    assert answers == [(case[3], case[4]) for case in CASES][::-1]


def test_rule_1_an_invalid_value_is_a_400_on_the_value(as_dpo, world):
    response = as_dpo.post(CHECKS, question(world, "no-at-sign", "commercial", None), format="json")
    assert response.status_code == 400
    assert list(response.json()) == ["value"]


def test_a_profile_that_is_not_the_purposes_is_refused(as_dpo, world):
    other = factories.compliance_profile()
    body = {**question(world, "in@example.org", "commercial", None), "profile": other.pk}
    response = as_dpo.post(CHECKS, body, format="json")
    assert response.status_code == 400 and "profile" in response.json()
