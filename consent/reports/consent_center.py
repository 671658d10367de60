"""The consent center of a subject (DESIGN §5): a matrix with a row per purpose and topic, a
column per address (e-mail, SMS, voice), and in each cell the stored status and what the
decision engine says ("will send", or why not, in words from the decision's explanation) —
now, or replayed as of a past instant."""

from dataclasses import dataclass, field
from datetime import datetime

from consent.decision.bulk import decide_many
from consent.decision.wording import decision_in_words
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
    why: str  # the decision in words (consent.decision.wording)

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


def subject_consent_center(subject: Subject, *, as_of: datetime | None = None) -> ConsentCenter:
    """A constant number of queries: purposes, topics, and one explained decide_many (its
    explanation also gives each cell's stored status). `as_of` replays it from the history:
    the subject's addresses, the purposes and topics that existed, the decisions, as then."""
    if as_of is not None:
        subject = _as_it_stood(subject, as_of)
        if subject is None:
            return ConsentCenter([], [])
    addresses = [Address(channel, value) for channel, value in subject_addresses(subject)]
    purposes = list(Purpose.objects.select_related("profile").order_by("profile_id", "pk"))
    topics = list(Topic.objects.filter(active=True).order_by("purpose_id", "name"))
    if as_of is not None:
        purposes = _existing_then(Purpose, purposes, as_of)
        topics = _existing_then(Topic, topics, as_of)
    rows = [
        Row(purpose, topic)
        for purpose in purposes
        for topic in [None, *(t for t in topics if t.purpose_id == purpose.pk)]
    ]
    if not addresses or not rows:
        return ConsentCenter(addresses, [])
    checks = [
        {
            "channel": a.channel,
            "value": a.value,
            "purpose": row.purpose.pk,
            "topic": row.topic.pk if row.topic else None,
        }
        for row in rows
        for a in addresses
    ]
    decisions = iter(decide_many(checks, explain=True, as_of=as_of))
    for row in rows:
        for _ in addresses:
            decision = next(decisions)
            row.cells.append(
                Cell(
                    status=_stored_status(decision, row.purpose, row.topic),
                    will_send=decision.allowed,
                    reason=decision.reason,
                    why=decision_in_words(decision),
                )
            )
    return ConsentCenter(addresses, rows)


def _stored_status(decision, purpose: Purpose, topic: Topic | None) -> str:
    """The status of the cell's own record, as the explanation read it."""
    topic_id = topic.pk if topic else None
    for record in decision.explanation.records:
        if (record.purpose, record.topic) == (purpose.pk, topic_id):
            return record.status
    return Status.NOT_SET


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
