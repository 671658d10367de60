"""Rule 10a (DESIGN §3.4): with `require_current_notice`, an opt-in given under a notice older
than the profile's latest material notice does not count — in the single, bulk and stream paths
alike."""

import pytest
from django.db.models import BooleanField, Value
from django.db.models.functions import Lower
from django.utils import timezone

from common.audit import Evidence, Source
from consent.decision.bulk import decide_many
from consent.decision.single import decide
from consent.decision.stream import decide_members
from consent.decision.wording import decision_in_words
from consent.models import Purpose
from consent.services.contact_points import contact_point_consent_set
from consent.services.notices import notice_create, notice_publish
from subjects.models import Contact
from tests import factories

pytestmark = pytest.mark.django_db


def publish(profile, version, *, material):
    notice = notice_create(
        data={
            "profile": profile,
            "version": version,
            "title": "Notice",
            "text": version,
            "material": material,
        },
        user=None,
        source=Source.INTERNAL,
    )
    notice_publish(notice, user=None, source=Source.INTERNAL)
    profile.refresh_from_db()


def three_paths(contacts, purpose, topic=None):
    """{email: (allowed, reason)} from decide, decide_many and decide_members."""
    emails = [contact.email.lower() for contact in contacts]
    single = {
        email: (lambda d: (d.allowed, d.reason))(
            decide(channel="email", value=email, purpose=purpose.pk, topic=topic and topic.pk)
        )
        for email in emails
    }
    many = decide_many(
        [
            {"channel": "email", "value": email, "purpose": purpose.pk, "topic": topic and topic.pk}
            for email in emails
        ]
    )
    bulk = {email: (d.allowed, d.reason) for email, d in zip(emails, many, strict=True)}
    members = Contact.objects.filter(pk__in=[c.pk for c in contacts]).values_list(
        "pk", Lower("email"), Value(True, output_field=BooleanField())
    )
    stream = {
        address: (allowed, reason)
        for batch in decide_members(members, channel="email", purpose=purpose, topic=topic)
        for _, address, _, allowed, reason in batch
    }
    return single, bulk, stream


@pytest.fixture
def world():
    profile = factories.compliance_profile(notice_version="1")
    purpose = factories.purpose(profile=profile, require_current_notice=True)
    topic = factories.topic(purpose_obj=purpose)
    people = {
        name: factories.contact(email=f"{name}@example.org")
        for name in ("before", "after", "topic_before", "out")
    }
    for name in ("before", "topic_before"):
        factories.cp_consent(value=f"{name}@example.org", purpose_obj=purpose, status="opted_in")
    factories.cp_consent(value="out@example.org", purpose_obj=purpose, status="opted_out")
    return profile, purpose, topic, people


def set_topic(email, purpose, topic, status):
    contact_point_consent_set(
        channel="email",
        value=email,
        purpose=purpose,
        topic=topic,
        status=status,
        evidence=Evidence(source=Source.INTERNAL),
    )


def test_without_a_material_notice_every_opt_in_counts(world):
    profile, purpose, _topic, people = world
    publish(profile, "1.1", material=False)
    single, bulk, stream = three_paths(people.values(), purpose)
    assert single == bulk == stream
    assert single["before@example.org"] == (True, "opted_in")


def test_an_opt_in_under_an_older_notice_is_notice_outdated_in_every_path(world):
    profile, purpose, _topic, people = world
    publish(profile, "2", material=True)
    purpose = Purpose.objects.select_related("profile").get(pk=purpose.pk)
    factories.cp_consent(value="after@example.org", purpose_obj=purpose, status="opted_in")
    single, bulk, stream = three_paths(people.values(), purpose)
    assert single == bulk == stream
    assert single["before@example.org"] == (False, "notice_outdated")
    assert single["after@example.org"] == (True, "opted_in")
    assert single["out@example.org"] == (False, "purpose_opted_out")


def test_an_outdated_topic_opt_in_is_notice_outdated_in_every_path(world):
    profile, purpose, topic, people = world
    set_topic("topic_before@example.org", purpose, topic, "opted_in")
    publish(profile, "2", material=True)
    purpose = Purpose.objects.select_related("profile").get(pk=purpose.pk)
    # The purpose opt-in is re-confirmed under "2"; the topic opt-in is still under "1".
    factories.cp_consent(
        value="topic_before@example.org",
        purpose_obj=purpose,
        status="opted_in",
        source="preference_center",
    )
    single, bulk, stream = three_paths([people["topic_before"]], purpose, topic)
    assert single == bulk == stream
    assert single["topic_before@example.org"] == (False, "notice_outdated")
    set_topic("topic_before@example.org", purpose, topic, "opted_in")
    single, bulk, stream = three_paths([people["topic_before"]], purpose, topic)
    assert single == bulk == stream == {"topic_before@example.org": (True, "opted_in")}


def test_a_purpose_without_the_flag_still_counts_outdated_opt_ins(world):
    profile, purpose, _topic, people = world
    purpose.require_current_notice = False
    purpose.save()
    publish(profile, "2", material=True)
    purpose = Purpose.objects.select_related("profile").get(pk=purpose.pk)
    single, bulk, stream = three_paths(people.values(), purpose)
    assert single == bulk == stream
    assert single["before@example.org"] == (True, "opted_in")


def test_explain_and_as_of_name_rule_10a_and_the_notice_the_opt_in_was_given_under(world):
    profile, purpose, _topic, _people = world
    before_the_change = timezone.now()
    publish(profile, "2", material=True)
    purpose = Purpose.objects.select_related("profile").get(pk=purpose.pk)
    check = {"channel": "email", "value": "before@example.org", "purpose": purpose.pk}

    single = decide(**check, explain=True)
    (bulk,) = decide_many([check], explain=True)
    assert single == bulk
    assert (single.allowed, single.reason) == (False, "notice_outdated")
    explanation = single.explanation.as_dict()
    assert explanation["rule"] == "10a"
    assert [record["notice_version"] for record in explanation["records"]] == ["1"]
    assert "opted in under an older notice (1)" in decision_in_words(single)

    # Replayed: before the material notice the opt-in counted; now it does not.
    then = decide(**check, as_of=before_the_change)
    (then_bulk,) = decide_many([check], as_of=before_the_change)
    assert (then.allowed, then.reason) == (True, "opted_in")
    assert (then_bulk.allowed, then_bulk.reason) == (True, "opted_in")
    now = decide(**check, as_of=timezone.now())
    assert (now.allowed, now.reason) == (False, "notice_outdated")
