"""The consent center of a subject: every contact-point consent of its addresses, per channel,
purpose and topic, with what the decision engine says right now ("will send / will track")."""

from dataclasses import dataclass

from consent.decision.bulk import decide_many
from consent.models import Channel, ContactPointConsent, Purpose, Topic
from subjects.models import Subject
from subjects.normalize import email_key


@dataclass(frozen=True)
class ConsentCenterRow:
    channel: str
    address: str
    purpose: Purpose
    topic: Topic | None
    status: str
    will_send: bool
    reason: str
    will_track: bool


def subject_addresses(subject: Subject) -> list[tuple[str, str]]:
    """(channel, normalized address) pairs a subject can be reached on."""
    addresses = []
    if subject.email:
        addresses.append((Channel.EMAIL, email_key(subject.email)))
    if subject.phone:
        addresses += [(Channel.SMS, subject.phone), (Channel.VOICE, subject.phone)]
    return addresses


def subject_consent_center(subject: Subject) -> list[ConsentCenterRow]:
    """A constant number of queries: purposes, topics, records, and one decide_many."""
    addresses = subject_addresses(subject)
    if not addresses:
        return []
    purposes = list(Purpose.objects.select_related("profile").order_by("profile_id", "pk"))
    topics = list(Topic.objects.filter(active=True).order_by("purpose_id", "name"))
    targets = [
        (channel, value, purpose, topic)
        for channel, value in addresses
        for purpose in purposes
        for topic in [None, *(t for t in topics if t.purpose_id == purpose.pk)]
    ]
    if not targets:
        return []
    statuses = {
        (r.channel, r.value, r.purpose_id, r.topic_id): r.status
        for r in ContactPointConsent.objects.filter(
            value__in={value for _, value in addresses}
        ).only("channel", "value", "purpose_id", "topic_id", "status")
    }
    decisions = decide_many(
        [
            {"channel": channel, "value": value, "purpose": purpose, "topic": topic}
            for channel, value, purpose, topic in targets
        ]
    )
    return [
        ConsentCenterRow(
            channel=channel,
            address=value,
            purpose=purpose,
            topic=topic,
            status=statuses.get(
                (channel, value, purpose.pk, topic.pk if topic else None),
                ContactPointConsent.Status.NOT_SET,
            ),
            will_send=decision.allowed,
            reason=decision.reason,
            will_track=decision.tracking_allowed,
        )
        for (channel, value, purpose, topic), decision in zip(targets, decisions, strict=True)
    ]
