"""`decide` and `decide_many` are two implementations of one rule set: they must always agree,
on the answer and, asked with `explain`, on the explanation.

Hypothesis draws random worlds — subjects with random preferences, levels and restrictions
sharing addresses, contact-point records with topics and expiry, suppressions, purposes of
every kind and model — and compares both answers to every random question. Each example's
rows are rolled back before the next one.
"""

from dataclasses import replace
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consent.addresses import address_hash, normalize_address
from consent.decision.bulk import decide_many
from consent.decision.rules import RULE_OF_REASON
from consent.decision.single import decide
from consent.models import ComplianceProfile, ContactPointConsent, Purpose, Suppression, Topic
from subjects.models import PREFERENCE_FIELDS, Contact, Lead

EMAILS = ["ada@example.org", "bob@example.org"]
PHONES = ["+31612345001", "+31612345002"]
ADDRESSES = [
    *(("email", email) for email in EMAILS),
    *((channel, phone) for channel in ("sms", "voice") for phone in PHONES),
    ("custom", "crm-1"),
    ("custom", "crm-2"),
]
EXPIRY = {"none": None, "past": timedelta(days=-1), "future": timedelta(days=1)}


# Skewed towards subjects that pass the subject gate, so that several of them often share an
# address and reach the preference and level rules together (where least-permissive matters).
mostly_true = st.sampled_from([True, True, True, False])
mostly_false = st.sampled_from([False, False, False, True])
rarely = st.sampled_from([False] * 7 + [True])


def case_variants(email: str):
    """How subjects and callers may spell an email: the local part's case is kept."""
    local, domain = email.split("@")
    return st.sampled_from([email, f"{local.upper()}@{domain}", f"{local.title()}@{domain}"])


subjects = st.lists(
    st.fixed_dictionaries(
        {
            "model": st.sampled_from([Lead, Contact]),
            "email": st.none() | st.sampled_from(EMAILS).flatmap(case_variants),
            "phone": st.none() | st.sampled_from(PHONES),
            "consent_level": st.sampled_from([0, 2, 3, 4, 5, 5, 5]),
            "restricted": rarely,
            "data_protection_consent": st.sampled_from(
                ["explicit"] * 6 + ["none", "inherent", "restrict"]
            ),
            "anonymized": mostly_false,
            **dict.fromkeys(PREFERENCE_FIELDS, mostly_true),
        }
    ),
    min_size=2,
    max_size=8,
)
purposes = st.lists(
    st.tuples(
        st.sampled_from(Purpose.Kind.values),
        st.sampled_from(
            ["restrictive", "non_restrictive", "restrictive", "non_restrictive", "disabled"]
        ),
        st.sampled_from([0, 0, 2, 4, 5]),  # required level
        st.integers(0, 2),  # number of topics
    ),
    min_size=1,
    max_size=4,
)
# (address index, purpose index, topic index or None, status, expiry); out-of-range topic
# indexes fall back to the purpose record.
records = st.lists(
    st.tuples(
        st.integers(0, len(ADDRESSES) - 1),
        st.integers(0, 3),
        st.none() | st.integers(0, 1),
        st.sampled_from(["opted_in", "opted_in", "opted_in", "opted_out", "not_set"]),
        st.sampled_from(list(EXPIRY)),
    ),
    min_size=2,
    max_size=25,
)
questions = st.lists(
    st.tuples(st.integers(0, len(ADDRESSES) - 1), st.integers(0, 3), st.none() | st.integers(0, 1)),
    min_size=1,
    max_size=10,
)


def build_purposes(spec, check_subject_consent):
    profile = ComplianceProfile.objects.create(
        name="Random", slug="random", check_subject_consent=check_subject_consent
    )
    built = []
    for index, (kind, model, level, topic_count) in enumerate(spec):
        purpose = Purpose.objects.create(
            profile=profile, name=f"P{index}", kind=kind, consent_model=model, required_level=level
        )
        topics = [Topic.objects.create(purpose=purpose, name=f"T{n}") for n in range(topic_count)]
        built.append((purpose, topics))
    return built


def build_subjects(spec):
    now = timezone.now()
    for fields in spec:
        fields = dict(fields)
        model = fields.pop("model")
        anonymized = fields.pop("anonymized")
        model.objects.create(last_name="X", anonymized_at=now if anonymized else None, **fields)


def pick(built, purpose_index, topic_index):
    purpose, topics = built[purpose_index % len(built)]
    topic = topics[topic_index] if topic_index is not None and topic_index < len(topics) else None
    return purpose, topic


def build_records(spec, built):
    now = timezone.now()
    seen = set()
    for address_index, purpose_index, topic_index, status, expiry in spec:
        channel, value = ADDRESSES[address_index]
        purpose, topic = pick(built, purpose_index, topic_index)
        if (address_index, purpose.pk, topic and topic.pk) in seen:
            continue
        seen.add((address_index, purpose.pk, topic and topic.pk))
        ContactPointConsent.objects.create(
            channel=channel,
            value=normalize_address(channel, value),
            purpose=purpose,
            topic=topic,
            status=status,
            expires_at=now + EXPIRY[expiry] if EXPIRY[expiry] else None,
        )


def build_suppressions(indexes):
    for index in indexes:
        channel, value = ADDRESSES[index]
        Suppression.objects.create(channel=channel, value_hash=address_hash(channel, value))


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    subject_spec=subjects,
    purpose_spec=purposes,
    check_subject_consent=mostly_true,
    record_spec=records,
    suppressed=st.sets(st.integers(0, len(ADDRESSES) - 1), max_size=2),
    question_spec=questions,
    spelling=st.sampled_from([str, str.upper, str.title]),
)
def test_decide_and_decide_many_always_agree(
    db,
    subject_spec,
    purpose_spec,
    check_subject_consent,
    record_spec,
    suppressed,
    question_spec,
    spelling,
):
    with transaction.atomic():
        built = build_purposes(purpose_spec, check_subject_consent)
        build_subjects(subject_spec)
        build_records(record_spec, built)
        build_suppressions(suppressed)
        checks = []
        for address_index, purpose_index, topic_index in question_spec:
            channel, value = ADDRESSES[address_index]
            purpose, topic = pick(built, purpose_index, topic_index)
            value = spelling(value) if channel == "email" else value
            checks.append({"channel": channel, "value": value, "purpose": purpose, "topic": topic})

        one_by_one = [decide(**check) for check in checks]
        assert decide_many(checks) == one_by_one

        # Explained, both paths give the same explanation, and the same answer as unexplained.
        explained = [decide(**check, explain=True) for check in checks]
        assert decide_many(checks, explain=True) == explained
        assert [replace(decision, explanation=None) for decision in explained] == one_by_one
        for decision in explained:
            assert decision.explanation.rule == RULE_OF_REASON[decision.reason]
            assert {record.id for record in decision.explanation.records} == set(
                decision.consulted_ids
            )
        transaction.set_rollback(True)
