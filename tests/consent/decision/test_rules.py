"""The consent decision (DESIGN §3.4, consent/decision/rules.py), one or more cases per row of the
table; rule 1 (a question refused) is in test_questions.py.

Every case is arranged so that the rule under test decides: without it the answer would
differ. Each case runs through `decide` and `decide_many` alike.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from consent.decision.bulk import decide_many
from consent.decision.rules import Decision
from consent.decision.single import decide
from consent.services.contact_points import suppression_add
from consent.services.data_consents import data_consent_cancel
from consent.services.erasure import subject_anonymize
from consent.services.subjects import subject_update
from tests import factories
from tests.consent.decision.helpers import (
    EMAIL,
    NOT_SET,
    OPTED_IN,
    OPTED_OUT,
    PHONE,
    Kind,
    Model,
    check,
    opt,
    opted_in_everywhere,
    person,
)

CASES = []


def case(allowed, reason):
    def register(arrange):
        CASES.append(pytest.param(arrange, allowed, reason, id=f"{reason}-{arrange.__name__}"))
        return arrange

    return register


# Rule 2 ---------------------------------------------------------------------------------------


@case(True, "purpose_disabled")
def disabled_purpose_skips_suppression_restriction_and_opt_out(w):
    person(restricted=True)
    opt(w.transactional, OPTED_OUT)
    suppression_add(channel="email", value=EMAIL)
    return check(w.transactional)


# Rule 3 ---------------------------------------------------------------------------------------


@case(False, "suppressed")
def suppressed_address_despite_opt_ins(w):
    opted_in_everywhere(w)
    person(level=5)
    suppression_add(channel="email", value=EMAIL)
    return check(w.marketing, topic=w.events)


@case(False, "suppressed")
def suppression_comes_before_a_restricted_subject(w):
    person(restricted=True)
    suppression_add(channel="sms", value=PHONE)
    return check(w.service_news, channel="sms", value=PHONE)


@case(True, "opted_in")
def suppression_is_per_channel(w):
    opted_in_everywhere(w, channel="voice", value=PHONE)
    person(level=5)
    suppression_add(channel="sms", value=PHONE)
    return check(w.marketing, topic=w.events, channel="voice", value=PHONE)


# Rule 4 ---------------------------------------------------------------------------------------


@case(False, "subject_restricted")
def restricted_subject(w):
    opted_in_everywhere(w)
    person(restricted=True)
    return check(w.marketing, topic=w.events)


@case(False, "subject_restricted")
def subject_whose_consents_are_all_inactive_is_restrict(w):
    opted_in_everywhere(w)
    subject = person(level=0)
    consent = factories.consent(subject=subject, policy_obj=factories.policy(consent_level=5))
    data_consent_cancel(consent=consent)
    subject_update(
        subject=type(subject).objects.get(pk=subject.pk),
        data=dict.fromkeys(("allow_email", "allow_bulk_email", "allow_tracking"), True),
    )
    return check(w.service_news)


@case(True, "opted_in")
def restriction_is_ignored_when_the_profile_does_not_check_subjects(w):
    w.profile.check_subject_consent = False
    w.profile.save()
    opted_in_everywhere(w)
    person(restricted=True)
    return check(w.marketing, topic=w.events)


@case(True, "not_opted_out")
def anonymized_subjects_do_not_count(w):
    subject = person(restricted=True)
    subject_anonymize(subject=subject)
    return check(w.service_news)


# Rule 5 ---------------------------------------------------------------------------------------


@case(False, "insufficient_consent_level")
def consent_level_below_the_purpose_level(w):
    opted_in_everywhere(w)
    person(level=3)
    return check(w.marketing, topic=w.events)


@case(False, "insufficient_consent_level")
def lead_without_data_consent_has_level_zero(w):
    opted_in_everywhere(w)
    person(level=0, model=factories.lead)
    return check(w.marketing)


@case(True, "opted_in")
def consent_level_equal_to_the_purpose_level_passes(w):
    opted_in_everywhere(w)
    person(level=4)
    return check(w.marketing, topic=w.events)


# Rule 6 ---------------------------------------------------------------------------------------


@case(False, "subject_preference")
def allow_email_false_blocks_email(w):
    opted_in_everywhere(w)
    person(allow_email=False)
    return check(w.notices)


@case(False, "subject_preference")
def allow_bulk_email_false_blocks_commercial_email(w):
    opted_in_everywhere(w)
    person(allow_bulk_email=False)
    return check(w.marketing, topic=w.events)


@case(True, "not_opted_out")
def allow_bulk_email_false_keeps_non_commercial_email(w):
    person(allow_bulk_email=False)
    return check(w.notices)


@case(True, "opted_in")
def allow_email_false_does_not_block_sms(w):
    opted_in_everywhere(w, channel="sms", value=PHONE)
    person(allow_email=False, allow_bulk_email=False)
    return check(w.marketing, channel="sms", value=PHONE)


@case(False, "subject_preference")
def allow_sms_false_blocks_sms(w):
    opted_in_everywhere(w, channel="sms", value=PHONE)
    person(allow_sms=False)
    return check(w.marketing, channel="sms", value=PHONE)


@case(False, "subject_preference")
def allow_phone_false_blocks_voice(w):
    opted_in_everywhere(w, channel="voice", value=PHONE)
    person(allow_phone=False)
    return check(w.notices, channel="voice", value=PHONE)


@case(False, "subject_preference")
def allow_tracking_false_blocks_the_tracking_purpose(w):
    opted_in_everywhere(w)
    person(allow_tracking=False)
    return check(w.tracking)


# Rule 7 ---------------------------------------------------------------------------------------


@case(False, "purpose_opted_out")
def purpose_opted_out_beats_a_topic_opt_in(w):
    opt(w.marketing, OPTED_OUT)
    opt(w.marketing, OPTED_IN, topic=w.events)
    person(level=5)
    return check(w.marketing, topic=w.events)


@case(False, "purpose_opted_out")
def non_restrictive_purpose_opted_out(w):
    opt(w.service_news, OPTED_OUT)
    return check(w.service_news)


# Rule 8 ---------------------------------------------------------------------------------------


@case(False, "topic_opted_out")
def topic_opted_out_under_an_opted_in_purpose(w):
    opt(w.marketing, OPTED_IN)
    opt(w.marketing, OPTED_OUT, topic=w.events)
    return check(w.marketing, topic=w.events)


@case(False, "topic_opted_out")
def topic_opted_out_under_a_non_restrictive_purpose(w):
    opt(w.service_news, OPTED_OUT, topic=w.tips)
    return check(w.service_news, topic=w.tips)


@case(True, "not_opted_out")
def opt_out_of_another_topic_does_not_matter(w):
    opt(w.service_news, OPTED_OUT, topic=w.tips)
    return check(w.service_news)


# Rule 9 ---------------------------------------------------------------------------------------


@case(False, "no_purpose_opt_in")
def restrictive_purpose_without_record(w):
    opt(w.marketing, OPTED_IN, topic=w.events)
    return check(w.marketing, topic=w.events)


@case(False, "no_purpose_opt_in")
def restrictive_purpose_not_set(w):
    opt(w.marketing, NOT_SET)
    return check(w.marketing)


@case(False, "no_purpose_opt_in")
def expired_opt_in_counts_as_not_set(w):
    opt(w.marketing, OPTED_IN, expires_at=timezone.now() - timedelta(minutes=1))
    return check(w.marketing)


@case(False, "no_purpose_opt_in")
def commercial_non_restrictive_purpose_needs_opt_in_on_sms(w):
    return check(w.service_news, channel="sms", value=PHONE)


@case(False, "no_purpose_opt_in")
def commercial_non_restrictive_purpose_needs_opt_in_on_custom(w):
    return check(w.service_news, channel="custom", value="crm-42")


@case(True, "not_opted_out")
def non_commercial_non_restrictive_purpose_needs_no_opt_in_on_sms(w):
    return check(w.notices, channel="sms", value=PHONE)


# Rule 10 --------------------------------------------------------------------------------------


@case(False, "no_topic_opt_in")
def restrictive_purpose_opted_in_but_not_the_topic(w):
    opt(w.marketing, OPTED_IN)
    return check(w.marketing, topic=w.events)


@case(False, "no_topic_opt_in")
def expired_topic_opt_in(w):
    opt(w.marketing, OPTED_IN)
    opt(w.marketing, OPTED_IN, topic=w.events, expires_at=timezone.now() - timedelta(1))
    return check(w.marketing, topic=w.events)


# Rule 11 --------------------------------------------------------------------------------------


@case(True, "opted_in")
def restrictive_purpose_and_topic_opted_in_with_a_subject(w):
    opted_in_everywhere(w)
    person(level=4)
    return check(w.marketing, topic=w.events)


@case(True, "opted_in")
def opt_in_not_yet_expired(w):
    opt(w.marketing, OPTED_IN, expires_at=timezone.now() + timedelta(days=1))
    return check(w.marketing)


@case(True, "opted_in")
def address_without_subject_skips_the_subject_rules(w):
    opted_in_everywhere(w, channel="custom", value="crm-42")
    return check(w.marketing, topic=w.events, channel="custom", value="crm-42")


@case(True, "not_opted_out")
def non_restrictive_email_without_records(w):
    person(level=0)
    return check(w.service_news, topic=w.tips)


@pytest.mark.parametrize("arrange, allowed, reason", CASES)
def test_decision_table(w, arrange, allowed, reason):
    question = arrange(w)
    decision = decide(**question)
    assert (decision.allowed, decision.reason) == (allowed, reason)
    assert decide_many([question]) == [decision]


# Least permissive wins ------------------------------------------------------------------------


def test_every_subject_sharing_the_address_must_pass(w):
    opted_in_everywhere(w)
    person(email="Ada@Example.org", level=5, model=factories.lead)
    reluctant = person(email="ADA@example.org", level=5, allow_bulk_email=False)
    question = check(w.marketing, topic=w.events)
    assert decide(**question).reason == "subject_preference"
    assert decide_many([question])[0].reason == "subject_preference"

    subject_anonymize(subject=reluctant)
    assert decide(**question).reason == "opted_in"


@pytest.mark.parametrize("model", [factories.contact, factories.lead])
def test_subjects_of_one_kind_sharing_an_address_are_all_checked(w, model):
    opted_in_everywhere(w)
    for level in (5, 3, 5):
        person(email="ada@EXAMPLE.org", level=level, model=model)
    question = check(w.marketing, topic=w.events)
    assert decide(**question).reason == "insufficient_consent_level"
    assert decide_many([question])[0].reason == "insufficient_consent_level"
    person(email="Ada@example.org", level=5, model=model, restricted=True)
    assert decide_many([question])[0].reason == "subject_restricted"


def test_the_lowest_level_among_subjects_sharing_a_phone_decides(w):
    opted_in_everywhere(w, channel="sms", value=PHONE)
    person(email=None, level=5)
    person(email=None, level=3, model=factories.lead)
    decision = decide(channel="sms", value="06 12345678", purpose=w.marketing)
    assert decision.reason == "insufficient_consent_level"


# tracking_allowed -----------------------------------------------------------------------------


def test_tracking_allowed_follows_the_tracking_purpose(w):
    opt(w.service_news, OPTED_IN)
    person(level=5)
    assert decide(channel="email", value=EMAIL, purpose=w.service_news).tracking_allowed is False
    opt(w.tracking, OPTED_IN)
    assert decide(channel="email", value=EMAIL, purpose=w.service_news).tracking_allowed is True
    person(level=5, model=factories.lead, allow_tracking=False)
    decision = decide(channel="email", value=EMAIL, purpose=w.service_news)
    assert (decision.allowed, decision.tracking_allowed) == (True, False)


def test_tracking_needs_the_tracking_level(w):
    opt(w.tracking, OPTED_IN)
    person(level=4)
    assert not decide(channel="email", value=EMAIL, purpose=w.service_news).tracking_allowed


def test_a_profile_without_tracking_purpose_never_allows_tracking(db):
    purpose = factories.purpose(kind=Kind.TRANSACTIONAL, consent_model=Model.NON_RESTRICTIVE)
    decision = decide(channel="custom", value="crm-1", purpose=purpose)
    assert decision == Decision(True, "not_opted_out", False, ())
