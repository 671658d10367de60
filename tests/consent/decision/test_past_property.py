"""The decision as of a past instant must be the decision the database gave at that instant.

Hypothesis draws random histories — contact-point records changing status and expiry, subjects
changing level, restriction, preferences and address, suppressions added and removed, purposes
changing model and required level, the profile turning its subject check on and off — applied
one event per instant under time_machine. After each event the live decisions (explained) are
recorded, right then and a moment later (expiries pass in between); at the end every question
is asked again `as_of` each recorded instant, single and bulk, and must get exactly the
recorded decision and explanation. Each example's rows are rolled back before the next one.
"""

import contextlib
from datetime import timedelta

import time_machine
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consent.addresses import normalize_address
from consent.decision.bulk import decide_many
from consent.decision.single import decide
from consent.models import ComplianceProfile, Purpose, Suppression, Topic
from consent.services.contact_points import suppression_add
from subjects.models import Contact, Lead
from tests import factories

EMAILS = ["ada@example.org", "bob@example.org"]
PHONES = ["+31612345001", "+31612345002"]
ADDRESSES = [
    *(("email", email) for email in EMAILS),
    *((channel, phone) for channel in ("sms", "voice") for phone in PHONES),
    ("custom", "crm-1"),
]
START = timezone.now() + timedelta(days=1)
STEP = timedelta(minutes=10)

SUBJECT_CHANGES = st.one_of(
    st.tuples(st.just("consent_level"), st.sampled_from([0, 2, 4, 5])),
    st.tuples(st.just("restricted"), st.booleans()),
    st.tuples(
        st.just("data_protection_consent"), st.sampled_from(["explicit", "none", "restrict"])
    ),
    st.tuples(
        st.sampled_from(["allow_email", "allow_bulk_email", "allow_sms", "allow_phone"]),
        st.booleans(),
    ),
    st.tuples(st.just("email"), st.none() | st.sampled_from([*EMAILS, "BOB@example.org"])),
    st.tuples(st.just("phone"), st.none() | st.sampled_from(PHONES)),
)
events = st.lists(
    st.one_of(
        st.tuples(
            st.just("record"),
            st.integers(0, len(ADDRESSES) - 1),
            st.integers(0, 2),  # purpose
            st.none() | st.just(0),  # topic
            st.sampled_from(["opted_in", "opted_in", "opted_out", "not_set"]),
            st.none() | st.integers(1, 12),  # opt-in expires after so many minutes
        ),
        st.tuples(st.just("subject"), st.integers(0, 2), SUBJECT_CHANGES),
        st.tuples(st.just("suppression"), st.integers(0, len(ADDRESSES) - 1), st.booleans()),
        st.tuples(
            st.just("purpose"),
            st.integers(0, 2),
            st.sampled_from(["restrictive", "non_restrictive", "disabled"]),
            st.sampled_from([0, 2, 4, 5]),
        ),
        st.tuples(st.just("profile"), st.booleans()),
    ),
    min_size=1,
    max_size=12,
)


def build_world():
    profile = ComplianceProfile.objects.create(name="Random", slug="random")
    purposes = [
        Purpose.objects.create(profile=profile, name=name, kind=kind, required_level=level)
        for name, kind, level in (
            ("Marketing", "commercial", 4),
            ("Service", "transactional", 0),
            ("Tracking", "tracking", 5),
        )
    ]
    topics = [Topic.objects.create(purpose=purpose, name="T") for purpose in purposes]
    subjects = [
        Contact.objects.create(
            first_name="Ada", last_name="A", email=EMAILS[0], phone=PHONES[0], consent_level=5
        ),
        Lead.objects.create(first_name="Bob", last_name="B", email=EMAILS[1], consent_level=4),
        Contact.objects.create(last_name="C", phone=PHONES[1], consent_level=2),
    ]
    return profile, purposes, topics, subjects


def apply(event, world, now):
    profile, purposes, topics, subjects = world
    kind, *args = event
    if kind == "record":
        address_index, purpose_index, topic_index, status, expiry = args
        channel, value = ADDRESSES[address_index]
        with contextlib.suppress(ValidationError):  # a suppressed address is never opted in
            factories.cp_consent(
                channel=channel,
                value=normalize_address(channel, value),
                purpose_obj=purposes[purpose_index],
                topic=None if topic_index is None else topics[purpose_index],
                status=status,
                expires_at=now + timedelta(minutes=expiry) if expiry else None,
            )
    elif kind == "subject":
        index, (field, value) = args
        subject = subjects[index]
        setattr(subject, field, value)
        subject.save()
    elif kind == "suppression":
        address_index, add = args
        channel, value = ADDRESSES[address_index]
        if add:
            suppression_add(channel=channel, value=value)
        else:
            for suppression in Suppression.objects.filter(channel=channel):
                suppression.delete()
    elif kind == "purpose":
        index, model, level = args
        purposes[index].consent_model, purposes[index].required_level = model, level
        purposes[index].save()
    else:
        profile.check_subject_consent = args[0]
        profile.save()


def questions(world):
    _, purposes, topics, _ = world
    return [
        {"channel": channel, "value": value, "purpose": purpose.pk, "topic": topic}
        for channel, value in ADDRESSES
        for purpose, purpose_topic in zip(purposes, topics, strict=True)
        for topic in (None, purpose_topic.pk)
    ]


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(history=events)
def test_the_decision_as_of_an_instant_is_the_decision_given_then(db, history):
    with transaction.atomic():
        with time_machine.travel(START, tick=False):
            world = build_world()
        checks = questions(world)
        recorded = []
        for step, event in enumerate(history, start=1):
            instant = START + step * STEP
            with time_machine.travel(instant, tick=False):
                apply(event, world, instant)
                recorded.append((instant, decide_many(checks, explain=True)))
            later = instant + STEP / 2  # expiries set by this event may have passed
            with time_machine.travel(later, tick=False):
                recorded.append((later, decide_many(checks, explain=True)))

        with time_machine.travel(START + (len(history) + 1) * STEP, tick=False):
            for instant, live in recorded:
                assert decide_many(checks, explain=True, as_of=instant) == live
            instant, live = recorded[-1]
            assert [decide(**check, explain=True, as_of=instant) for check in checks] == live
        transaction.set_rollback(True)
