"""The consent-check endpoint's validation of a batch: the cheap per-item shape test agrees
with the full one, and errors still name the item and field."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from common.api import MAX_ID
from consent.api.consent_checks import CHECK_FIELDS, _shape_errors, _well_shaped
from consent.decision.single import decide
from consent.models import ComplianceProfile, ContactPointConsent

CHECKS = "/api/v1/consent-checks/"

ID_VALUES = st.one_of(
    st.none(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([MAX_ID, MAX_ID + 1, 0, -1, True, False, "7", "x", 1.5, [1], {"a": 1}]),
)
CHECK_DICTS = st.dictionaries(
    st.sampled_from([*CHECK_FIELDS, "topc", "Purpose"]),
    st.one_of(ID_VALUES, st.text(max_size=5)),
    max_size=6,
)


@hypothesis_settings(max_examples=500, deadline=None)
@given(st.one_of(CHECK_DICTS, st.lists(st.integers(), max_size=2), st.none(), st.text()))
def test_the_cheap_shape_test_only_passes_what_the_full_one_passes(check):
    if _well_shaped(check):
        assert _shape_errors(check, prefix="checks[0].") == {}


def test_the_usual_check_takes_the_cheap_path():
    assert _well_shaped({"channel": "email", "value": "a@example.org", "purpose": 1})
    assert _well_shaped({"channel": "sms", "value": "1", "purpose": 1, "topic": None})
    assert not _well_shaped({"channel": "email", "value": "a@example.org", "purpose": MAX_ID + 1})
    assert not _well_shaped({"channel": "email", "value": "a@example.org", "purpose": "1"})


@pytest.fixture
def sender(db):
    user = get_user_model().objects.create_user("shape-mailer")
    user.user_permissions.add(Permission.objects.get(codename="check_consent"))
    client = APIClient()
    client.force_authenticate(get_user_model().objects.get(pk=user.pk))
    return client


def test_a_large_batch_answers_like_single_checks_and_errors_name_the_item(sender):
    purpose = ComplianceProfile.objects.default().purposes.get(kind="commercial")
    ContactPointConsent.objects.create(
        channel="email",
        value="u7@example.org",
        purpose=purpose,
        status=ContactPointConsent.Status.OPTED_IN,
    )
    checks = [
        {"channel": "email", "value": f"U{n % 50}@Example.org", "purpose": purpose.pk}
        for n in range(2000)
    ]
    response = sender.post(CHECKS, {"checks": checks}, format="json")
    assert response.status_code == 200
    expected = [decide(**check) for check in checks[:50]]
    results = response.json()["results"]
    assert len(results) == 2000
    for n, result in enumerate(results):
        decision = expected[n % 50]
        assert result == {
            "allowed": decision.allowed,
            "reason": decision.reason,
            "tracking_allowed": decision.tracking_allowed,
        }
    assert results[7]["reason"] == "opted_in"

    checks[3] = {**checks[3], "purpose": 2**63}
    checks[1500] = {**checks[1500], "topic": 2**64}
    checks[1999] = {**checks[1999], "value": "not an address"}
    response = sender.post(CHECKS, {"checks": checks}, format="json")
    assert response.status_code == 400
    errors = response.json()
    assert errors["checks[3].purpose"] == ["Unknown purpose."]
    assert errors["checks[1500].topic"] == ["Unknown topic."]
    assert list(errors) == ["checks[3].purpose", "checks[1500].topic"]  # shape errors first


def test_a_huge_id_in_a_single_check_is_a_400(sender):
    response = sender.post(
        CHECKS, {"channel": "email", "value": "a@example.org", "purpose": 2**63}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"purpose": ["Unknown purpose."]}
