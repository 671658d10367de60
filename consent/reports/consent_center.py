"""The consent center of a subject: every contact-point consent of its addresses, per channel,
purpose and topic, with what the decision engine says right now ("will send / will track")."""

from dataclasses import dataclass
from datetime import datetime

from consent.decision.bulk import decide_many
from consent.decision.wording import decision_in_words
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
    why: str  # the decision in words (consent.decision.wording)


def subject_addresses(subject: Subject) -> list[tuple[str, str]]:
    """(channel, normalized address) pairs a subject can be reached on."""
    addresses = []
    if subject.email:
        addresses.append((Channel.EMAIL, email_key(subject.email)))
    if subject.phone:
        addresses += [(Channel.SMS, subject.phone), (Channel.VOICE, subject.phone)]
    return addresses


def subject_consent_center(
    subject: Subject, *, as_of: datetime | None = None
) -> list[ConsentCenterRow]:
    """A constant number of queries: purposes, topics, and one decide_many (explained, so each
    row says why). `as_of` replays it from the history: the subject's addresses, the purposes
    and topics that existed, and the decisions, as they stood then."""
    if as_of is not None:
        subject = _as_it_stood(subject, as_of)
        if subject is None:
            return []
    addresses = subject_addresses(subject)
    if not addresses:
        return []
    purposes = list(Purpose.objects.select_related("profile").order_by("profile_id", "pk"))
    topics = list(Topic.objects.filter(active=True).order_by("purpose_id", "name"))
    if as_of is not None:
        purposes = _existing_then(Purpose, purposes, as_of)
        topics = _existing_then(Topic, topics, as_of)
    targets = [
        (channel, value, purpose, topic)
        for channel, value in addresses
        for purpose in purposes
        for topic in [None, *(t for t in topics if t.purpose_id == purpose.pk)]
    ]
    if not targets:
        return []
    decisions = decide_many(
        [
            {"channel": channel, "value": value, "purpose": purpose.pk, "topic": topic and topic.pk}
            for channel, value, purpose, topic in targets
        ],
        explain=True,
        as_of=as_of,
    )
    return [
        ConsentCenterRow(
            channel=channel,
            address=value,
            purpose=purpose,
            topic=topic,
            status=_stored_status(decision, purpose, topic),
            will_send=decision.allowed,
            reason=decision.reason,
            will_track=decision.tracking_allowed,
            why=decision_in_words(decision),
        )
        for (channel, value, purpose, topic), decision in zip(targets, decisions, strict=True)
    ]


def _stored_status(decision, purpose: Purpose, topic: Topic | None) -> str:
    """The status of the row's own record, as the explanation read it."""
    topic_id = topic.pk if topic else None
    for record in decision.explanation.records:
        if (record.purpose, record.topic) == (purpose.pk, topic_id):
            return record.status
    return ContactPointConsent.Status.NOT_SET


def _as_it_stood(subject: Subject, as_of: datetime) -> Subject | None:
    """The subject as its history held it at `as_of` (None: it did not exist yet)."""
    try:
        return subject.history.as_of(as_of)
    except subject.DoesNotExist:
        return None


def _existing_then(model, objects: list, as_of: datetime) -> list:
    """The objects that existed at `as_of` (a history row up to then, the latest not '-')."""
    rows = model.history.filter(id__in=[obj.pk for obj in objects], history_date__lte=as_of)
    latest = dict(
        rows.order_by("id", "history_date", "history_id").values_list("id", "history_type")
    )
    return [obj for obj in objects if latest.get(obj.pk, "-") != "-"]
