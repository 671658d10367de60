"""The consent decision (DESIGN §3.4), one or more cases per row of the table.

Every case is arranged so that the rule under test decides: without it the answer would
differ. Each case runs through `decide` and `decide_many` alike.
"""

from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from consent.decision.bulk import decide_many, gather_facts, iter_facts, text_array_literal
from consent.decision.rules import Decision
from consent.decision.single import decide
from consent.models import ContactPointConsent, Purpose
from consent.services.contact_points import suppression_add
from consent.services.data_consents import data_consent_cancel
from consent.services.erasure import subject_anonymize
from consent.services.subjects import subject_update
from subjects.services import SYSTEM
from tests import factories

EMAIL = "ada@example.org"
PHONE = "+31612345678"
OPTED_IN = ContactPointConsent.Status.OPTED_IN
OPTED_OUT = ContactPointConsent.Status.OPTED_OUT
NOT_SET = ContactPointConsent.Status.NOT_SET
Kind = Purpose.Kind
Model = Purpose.ConsentModel


@pytest.fixture
def w(db):
    """A profile with a purpose of each model and kind, and topics."""
    profile = factories.compliance_profile()

    def purpose(name, kind, model, level):
        return factories.purpose(
            profile=profile, name=name, kind=kind, consent_model=model, required_level=level
        )

    world = SimpleNamespace(
        profile=profile,
        marketing=purpose("Marketing", Kind.COMMERCIAL, Model.RESTRICTIVE, 4),
        service_news=purpose("Service news", Kind.COMMERCIAL, Model.NON_RESTRICTIVE, 0),
        notices=purpose("Account notices", Kind.TRANSACTIONAL, Model.NON_RESTRICTIVE, 0),
        transactional=purpose("Transactional", Kind.TRANSACTIONAL, Model.DISABLED, 2),
        tracking=purpose("Tracking", Kind.TRACKING, Model.RESTRICTIVE, 5),
    )
    world.events = factories.topic(purpose_obj=world.marketing, name="Events")
    world.tips = factories.topic(purpose_obj=world.service_news, name="Tips")
    return world


def person(*, email=EMAIL, phone=PHONE, level=5, model=factories.contact, **data):
    """A subject holding the address, at `level`, with `data` (preferences, restricted) set."""
    subject = model(email=email, phone=phone)
    if level:
        factories.consent(subject=subject, policy_obj=factories.policy(consent_level=level))
    if data:
        subject.refresh_from_db()
        subject = subject_update(subject=subject, data=data, user=SYSTEM)
    return subject


def opt(purpose, status, *, topic=None, channel="email", value=EMAIL, **kwargs):
    return factories.cp_consent(
        channel=channel, value=value, purpose_obj=purpose, topic=topic, status=status, **kwargs
    )


def opted_in_everywhere(w, channel="email", value=EMAIL):
    for purpose in (w.marketing, w.service_news, w.notices, w.tracking):
        opt(purpose, OPTED_IN, channel=channel, value=value)
    opt(w.marketing, OPTED_IN, topic=w.events, channel=channel, value=value)
    opt(w.service_news, OPTED_IN, topic=w.tips, channel=channel, value=value)


def check(purpose, *, topic=None, channel="email", value=EMAIL, **extra):
    return {"channel": channel, "value": value, "purpose": purpose, "topic": topic, **extra}


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


# Rule 1 ---------------------------------------------------------------------------------------


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


# tracking_allowed and consulted records -------------------------------------------------------


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


def test_consulted_ids_name_the_records_read(w):
    purpose_record = opt(w.marketing, OPTED_IN)
    topic_record = opt(w.marketing, OPTED_IN, topic=w.events)
    tracking_record = opt(w.tracking, OPTED_OUT)
    opt(w.service_news, OPTED_IN)  # not asked about
    decision = decide(channel="email", value=EMAIL, purpose=w.marketing, topic=w.events)
    assert decision.consulted_ids == tuple(
        sorted([purpose_record.pk, topic_record.pk, tracking_record.pk])
    )


def test_decide_many_answers_in_order_and_accepts_ids(w):
    opt(w.marketing, OPTED_IN)
    questions = [
        check(w.marketing.pk),
        check(w.marketing.pk, topic=w.events.pk),
        check(str(w.service_news.pk), channel="sms", value="06 12345678"),
        check(w.marketing.pk, value=EMAIL.upper()),
    ]
    reasons = [decision.reason for decision in decide_many(questions)]
    assert reasons == ["opted_in", "no_topic_opt_in", "no_purpose_opt_in", "opted_in"]
    assert decide_many([]) == []


# Query counts ---------------------------------------------------------------------------------


def test_decide_runs_a_constant_handful_of_queries(
    w, django_assert_max_num_queries, prepared_unverified
):
    opted_in_everywhere(w)
    for n in range(5):
        person(level=5, model=factories.lead if n % 2 else factories.contact)
    suppression_add(channel="email", value="other@example.org")
    with django_assert_max_num_queries(6):
        decision = decide(channel="email", value=EMAIL, purpose=w.marketing.pk, topic=w.events.pk)
    assert decision.allowed


def count_queries(function, *args) -> int:
    with CaptureQueriesContext(connection) as context:
        function(*args)
    return len(context.captured_queries)


def test_decide_many_query_count_does_not_grow_with_the_checks(w, prepared_unverified):
    channels = [("email", "user{}@example.org"), ("sms", "+316123{:05d}"), ("custom", "id-{}")]

    def questions(count):
        result = []
        for n in range(count):
            channel, template = channels[n % 3]
            purpose, topic = (w.marketing, w.events) if n % 2 else (w.service_news, None)
            result.append(check(purpose, topic=topic, channel=channel, value=template.format(n)))
        return result

    for n in range(0, 500, 7):
        channel, template = channels[n % 3]
        opt(w.marketing, OPTED_IN, channel=channel, value=template.format(n))
        if channel != "custom":
            field = "email" if channel == "email" else "phone"
            person(**{"email": None, "phone": None, field: template.format(n)}, level=n % 6)
    suppression_add(channel="email", value="user3@example.org")

    assert count_queries(decide_many, questions(10)) == count_queries(decide_many, questions(500))
    assert count_queries(decide_many, questions(500)) <= 6


def test_facts_gathered_chunk_by_chunk_equal_facts_gathered_at_once(w):
    addresses = [("email", f"u{n}@example.org") for n in range(7)] + [("sms", PHONE)]
    for n, (channel, value) in enumerate(addresses):
        opt(w.marketing, OPTED_IN if n % 2 else OPTED_OUT, channel=channel, value=value)
    person(email="u3@example.org", level=2)
    suppression_add(channel="email", value="u5@example.org")
    ids = {"purpose_ids": {w.marketing.pk, w.tracking.pk}, "topic_ids": {w.events.pk}}

    chunks = list(iter_facts(addresses, chunk_size=3, **ids))

    assert [len(chunk) for chunk in chunks] == [3, 3, 2]
    merged = {address: facts for chunk in chunks for address, facts in chunk.items()}
    assert merged == gather_facts(addresses, **ids)
    assert merged[("email", "u5@example.org")].suppressed
    assert merged[("email", "u3@example.org")].subjects.min_level == 2


# Ids no table can hold, and addresses that need quoting -----------------------------------------


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


def test_many_checks_of_few_questions_share_them_and_answer_each(w):
    opt(w.marketing, OPTED_IN, value="in@example.org")
    opt(w.marketing, OPTED_IN, topic=w.events, value="in@example.org")
    opt(w.marketing, OPTED_OUT, value="out@example.org")
    values = ["in@example.org", "out@example.org", "none@example.org"] * 20
    questions = [
        check(w.marketing.pk, topic=w.events.pk if n % 2 else None, value=value)
        for n, value in enumerate(values)
    ]
    many = decide_many(questions)
    single = [decide(**question) for question in questions]
    assert many == single
    assert {decision.reason for decision in many} == {
        "opted_in",
        "purpose_opted_out",
        "no_purpose_opt_in",
    }


CUSTOM_IDS = ['quo"te', "back\\slash", "{br,ace}", "com,ma", "NULL", "it's", "ü-😀", "a" * 200]


def test_custom_addresses_needing_quotes_are_found_by_both_paths(w):
    for n, value in enumerate(CUSTOM_IDS):
        opt(w.service_news, OPTED_OUT if n % 2 else OPTED_IN, channel="custom", value=value)
    suppression_add(channel="custom", value="back\\slash")
    questions = [check(w.service_news.pk, channel="custom", value=value) for value in CUSTOM_IDS]
    many = decide_many(questions)
    assert many == [decide(**question) for question in questions]
    assert [decision.reason for decision in many] == [
        "opted_in",
        "suppressed",
        "opted_in",
        "purpose_opted_out",
        "opted_in",
        "purpose_opted_out",
        "opted_in",
        "purpose_opted_out",
    ]
    assert all(decision.consulted_ids for decision in many)


def test_text_array_literal_round_trips_through_postgresql(db):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's array syntax")
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::text[]", [text_array_literal(CUSTOM_IDS)])
        assert cursor.fetchone()[0] == CUSTOM_IDS
