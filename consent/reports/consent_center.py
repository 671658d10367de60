"""The consent center of a subject (DESIGN §5): a matrix with a row per purpose and topic, a
column per address (e-mail, SMS, voice), and in each cell the stored status and what the
decision engine says right now ("will send", or why not, in words)."""

from dataclasses import dataclass, field

from django.db.models import Q

from consent.decision.bulk import decide_many
from consent.decision.rules import Decision, Reason
from consent.models import Channel, ContactPointConsent, Purpose, Topic
from subjects.models import Subject
from subjects.normalize import email_key

Status = ContactPointConsent.Status


@dataclass(frozen=True)
class Address:
    channel: str
    value: str

    @property
    def channel_label(self) -> str:
        return Channel(self.channel).label


@dataclass(frozen=True)
class Cell:
    status: str
    will_send: bool
    reason: str  # the decision's code, for tests and tooltips
    why: str  # the same, in words

    @property
    def status_label(self) -> str:
        return Status(self.status).label


@dataclass
class Row:
    purpose: Purpose
    topic: Topic | None
    cells: list[Cell] = field(default_factory=list)


@dataclass
class ConsentCenter:
    addresses: list[Address]
    rows: list[Row]

    def __bool__(self) -> bool:
        return bool(self.addresses and self.rows)


def subject_addresses(subject: Subject) -> list[tuple[str, str]]:
    """(channel, normalized address) pairs a subject can be reached on."""
    addresses = []
    if subject.email:
        addresses.append((Channel.EMAIL, email_key(subject.email)))
    if subject.phone:
        addresses += [(Channel.SMS, subject.phone), (Channel.VOICE, subject.phone)]
    return addresses


def decision_in_words(decision: Decision) -> str:
    """Why a decision came out as it did, in words a DPO reads (the reason's label)."""
    return Reason(decision.reason).label


def subject_consent_center(subject: Subject) -> ConsentCenter:
    """A constant number of queries: purposes, topics, records, and one decide_many."""
    addresses = [Address(channel, value) for channel, value in subject_addresses(subject)]
    purposes = list(Purpose.objects.select_related("profile").order_by("profile_id", "pk"))
    topics = list(Topic.objects.filter(active=True).order_by("purpose_id", "name"))
    rows = [
        Row(purpose, topic)
        for purpose in purposes
        for topic in [None, *(t for t in topics if t.purpose_id == purpose.pk)]
    ]
    if not addresses or not rows:
        return ConsentCenter(addresses, [])
    statuses = _statuses(addresses)
    decisions = iter(
        decide_many(
            [
                {"channel": a.channel, "value": a.value, "purpose": row.purpose, "topic": row.topic}
                for row in rows
                for a in addresses
            ]
        )
    )
    for row in rows:
        topic_id = row.topic.pk if row.topic else None
        for address in addresses:
            decision = next(decisions)
            row.cells.append(
                Cell(
                    status=statuses.get(
                        (address.channel, address.value, row.purpose.pk, topic_id), Status.NOT_SET
                    ),
                    will_send=decision.allowed,
                    reason=decision.reason,
                    why=decision_in_words(decision),
                )
            )
    return ConsentCenter(addresses, rows)


def _statuses(addresses: list[Address]) -> dict[tuple, str]:
    # By (channel, value) pairs, so the records' (channel, value) index serves it at any size.
    match = Q()
    for address in addresses:
        match |= Q(channel=address.channel, value=address.value)
    return {
        (r.channel, r.value, r.purpose_id, r.topic_id): r.status
        for r in ContactPointConsent.objects.filter(match).only(
            "channel", "value", "purpose_id", "topic_id", "status"
        )
    }
