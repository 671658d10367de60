"""The decision as of a past instant (DESIGN §3.4), replayed from the history tables."""

from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.utils import timezone

from consent.decision.bulk import decide_many
from consent.decision.single import decide
from consent.models import Purpose, Suppression
from consent.services.contact_points import suppression_add, suppression_remove
from consent.services.erasure import subject_anonymize
from subjects.models import DataProtectionConsent
from tests import factories

START = timezone.now() + timedelta(days=1)  # later than anything the migrations wrote


def at(minutes: int):
    return START + timedelta(minutes=minutes)


def travel(minutes: int):
    return time_machine.travel(at(minutes), tick=False)


def check(value, purpose, minutes, **kwargs):
    with travel(1000):
        return decide(
            channel="email", value=value, purpose=purpose, as_of=at(minutes), explain=True, **kwargs
        )


def test_a_record_is_read_as_it_stood(commercial):
    with travel(0):
        record = factories.cp_consent(
            value="ann@example.org", purpose_obj=commercial, status="opted_in", source="form"
        )
    with travel(10):
        factories.cp_consent(
            value="ann@example.org", purpose_obj=commercial, status="opted_out", source="verbal"
        )

    before, between, after = (check("ann@example.org", commercial, m) for m in (-1, 5, 15))

    assert (before.allowed, before.reason, before.explanation.records) == (
        False,
        "no_purpose_opt_in",
        (),
    )
    assert (between.allowed, between.reason) == (True, "opted_in")
    (then,) = between.explanation.records
    assert (then.id, then.status, then.source, then.captured_at) == (
        record.pk,
        "opted_in",
        "form",
        at(0),
    )
    assert (after.reason, after.explanation.records[0].source) == ("purpose_opted_out", "verbal")


def test_an_opt_in_expired_at_the_instant_reads_as_not_set(commercial):
    with travel(0):
        factories.cp_consent(
            value="exp@example.org", purpose_obj=commercial, status="opted_in", expires_at=at(10)
        )
    assert check("exp@example.org", commercial, 5).reason == "opted_in"
    late = check("exp@example.org", commercial, 15)
    assert late.reason == "no_purpose_opt_in"
    assert late.explanation.records[0].effective_status == "not_set"


def test_subjects_are_read_as_they_stood(commercial):
    with travel(0):
        factories.cp_consent(value="maud@example.org", purpose_obj=commercial, status="opted_in")
        maud = factories.contact(first_name="Maud", last_name="Wagner", email="maud@example.org")
    with travel(10):
        factories.consent(subject=maud, policy_obj=factories.policy(consent_level=4))
    with travel(20):
        maud.email = "maud@elsewhere.org"
        maud.save()

    low, enough, moved = (check("maud@example.org", commercial, m) for m in (5, 15, 25))

    assert low.reason == "insufficient_consent_level"
    assert [(s.id, s.name, s.consent_level) for s in low.explanation.subjects] == [
        (maud.pk, "Maud Wagner", 0)
    ]
    assert enough.reason == "opted_in"
    assert enough.explanation.subjects[0].data_protection_consent == (
        DataProtectionConsent.EXPLICIT
    )
    assert (moved.reason, moved.explanation.subjects) == ("opted_in", ())


def test_suppressions_and_configuration_are_read_as_they_stood(admin_user, commercial):
    with travel(0):
        factories.cp_consent(value="sup@example.org", purpose_obj=commercial, status="opted_in")
    with travel(10):
        suppression_add(channel="email", value="sup@example.org")
    with travel(20):
        suppression_remove(
            channel="email", value="sup@example.org", user=admin_user, reason="asked again"
        )
    with travel(30):
        commercial.consent_model = Purpose.ConsentModel.DISABLED
        commercial.save()

    reasons = [check("sup@example.org", commercial, m).reason for m in (5, 15, 25, 35)]

    assert reasons == ["opted_in", "suppressed", "opted_in", "purpose_disabled"]


def test_an_instant_in_the_future_is_a_field_error(commercial):
    with pytest.raises(ValidationError) as error:
        decide(
            channel="email",
            value="x@example.org",
            purpose=commercial,
            as_of=timezone.now() + timedelta(minutes=1),
        )
    assert "as_of" in error.value.message_dict


def test_a_purpose_created_after_the_instant_is_unknown(profile):
    with travel(10):
        later = factories.purpose(profile=profile, name="Later")
    with pytest.raises(ValidationError) as error:
        check("x@example.org", later, 5)
    assert error.value.message_dict == {"purpose": ["Unknown purpose."]}


def test_an_erased_persons_past_is_not_replayed_only_the_suppression_answers(commercial):
    with travel(0):
        erin = factories.contact(first_name="Erin", email="erin@example.org")
        factories.consent(subject=erin, policy_obj=factories.policy(consent_level=5))
        factories.cp_consent(value="erin@example.org", purpose_obj=commercial, status="opted_in")
    with travel(10):
        factories.cp_consent(value="erin@example.org", purpose_obj=commercial, status="opted_out")
    with travel(20):
        subject_anonymize(subject=erin)

    for minutes in (5, 15, 25):
        decision = check("erin@example.org", commercial, minutes)
        assert (decision.allowed, decision.reason) == (False, "suppressed")
        explanation = decision.explanation
        assert (explanation.suppressed, explanation.subjects, explanation.records) == (
            True,
            (),
            (),
        )
        assert explanation.erased is (minutes < 20)
    assert Suppression.objects.get().reason == Suppression.ERASURE_REASON


def test_as_of_costs_a_constant_number_of_queries(
    commercial, django_assert_num_queries, django_assert_max_num_queries
):
    topic = factories.topic(purpose_obj=commercial)
    with travel(0):
        for n in range(30):
            factories.contact(email=f"c{n}@example.org")
            factories.cp_consent(
                value=f"c{n}@example.org", purpose_obj=commercial, status="opted_in"
            )

    def checks(count):
        return [
            {"channel": channel, "value": value, "purpose": commercial.pk, "topic": topic.pk}
            for n in range(count)
            for channel, value in (("email", f"c{n}@example.org"), ("sms", f"+3161000{n:04d}"))
        ]

    with travel(1000):
        with django_assert_max_num_queries(6) as one:
            decide(**checks(1)[0], as_of=at(5), explain=True)
        with django_assert_num_queries(len(one.captured_queries)):
            decide_many(checks(30), as_of=at(5))


def test_configuration_found_without_history_replays_from_before_any_consent(commercial):
    """The default profile of migration 0004 had no history row: migration 0012 backfilled one
    dated 2000-01-01, so an existing installation's past replays."""
    long_ago = timezone.make_aware(timezone.datetime(2020, 1, 1))
    decision = decide(channel="email", value="old@example.org", purpose=commercial, as_of=long_ago)
    assert (decision.allowed, decision.reason) == (False, "no_purpose_opt_in")
    (backfilled,) = commercial.history.all()
    assert backfilled.history_date.year == 2000
