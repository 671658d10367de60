"""Rule 1 of the decision (DESIGN §3.4, consent/decision/questions.py): a question with an invalid
address, a purpose, topic or profile that does not fit, or an id that is not one, is refused
with a field error by `decide` and `decide_many` alike."""

import pytest
from django.core.exceptions import ValidationError

from consent.decision.bulk import decide_many
from consent.decision.single import decide
from tests import factories
from tests.consent.decision.helpers import EMAIL, check


@pytest.mark.parametrize(
    "channel, value, field",
    [
        ("email", "not-an-email", "value"),
        ("sms", "12", "value"),
        ("voice", "", "value"),
        ("custom", "  ", "value"),
        ("fax", EMAIL, "channel"),
    ],
)
def test_invalid_value_is_a_validation_error(w, channel, value, field):
    with pytest.raises(ValidationError) as error:
        decide(channel=channel, value=value, purpose=w.marketing)
    assert field in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        decide_many([check(w.marketing), check(w.marketing, channel=channel, value=value)])
    assert list(error.value.message_dict) == [f"checks[1].{field}"]


def test_a_profile_other_than_the_purposes_is_refused(w):
    other = factories.compliance_profile()
    with pytest.raises(ValidationError) as error:
        decide(channel="email", value=EMAIL, purpose=w.marketing, profile=other)
    assert "profile" in error.value.message_dict
    assert decide(channel="email", value=EMAIL, purpose=w.marketing, profile=w.profile.pk)


def test_a_topic_of_another_purpose_is_refused(w):
    with pytest.raises(ValidationError) as error:
        decide(channel="email", value=EMAIL, purpose=w.marketing, topic=w.tips)
    assert "topic" in error.value.message_dict


def test_unknown_purpose_and_topic_ids_are_refused(w):
    with pytest.raises(ValidationError) as error:
        decide_many([check(10**9), check(w.marketing.pk, topic=10**9), check("x")])
    assert sorted(error.value.message_dict) == [
        "checks[0].purpose",
        "checks[1].topic",
        "checks[2].purpose",
    ]


@pytest.mark.parametrize("huge", [2**63, 2**64 + 5, -(2**63) - 1, "99999999999999999999"])
def test_ids_beyond_bigint_are_unknown_not_a_crash(w, huge):
    with pytest.raises(ValidationError) as error:
        decide(channel="email", value=EMAIL, purpose=huge)
    assert error.value.message_dict == {"purpose": ["Unknown purpose."]}
    with pytest.raises(ValidationError) as error:
        decide(channel="email", value=EMAIL, purpose=w.marketing, topic=huge)
    assert error.value.message_dict == {"topic": ["Unknown topic."]}
    with pytest.raises(ValidationError) as error:
        decide_many([check(huge), check(w.marketing.pk, topic=huge), check(w.marketing.pk)])
    assert error.value.message_dict == {
        "checks[0].purpose": ["Unknown purpose."],
        "checks[1].topic": ["Unknown topic."],
    }


@pytest.mark.parametrize("odd", ["²", "1.5", "", [1], {"id": 1}, True])
def test_ids_that_are_not_ids_are_field_errors(w, odd):
    with pytest.raises(ValidationError) as error:
        decide_many([check(odd), check(w.marketing.pk, topic=odd)])
    assert sorted(error.value.message_dict) == ["checks[0].purpose", "checks[1].topic"]
