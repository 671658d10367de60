"""The GDPR activity timeline and the access report of a data subject (DESIGN.md §3.7).

The timeline merges the history rows of the subject, of its data consents and of the
contact-point consents of its addresses into one chronological list: when, what changed
(from → to), source, reason, by whom. Confidential consents the user may not see are left out.
"""

from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime

from django.db.models import Model, Q, QuerySet

from consent.models import ContactPointConsent, DataConsent, Purpose, Topic
from consent.reports.consent_center import subject_addresses
from subjects.models import Subject

SKIPPED_FIELDS = {"id", "updated_at", "created_at"}
HISTORY_TYPES = {"+": "created", "~": "changed", "-": "deleted"}


@dataclass(frozen=True)
class Change:
    field: str
    old: object
    new: object


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    object_type: str
    object_id: int
    object_label: str
    action: str
    changes: list[Change] = field(default_factory=list)
    source: str = ""
    reason: str = ""
    by: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def _tracked_fields(history_model) -> list[tuple[str, str]]:
    """(public name, attribute) of each field: a foreign key is named `purpose`, holding its id."""
    return [
        (f.name, f.attname) for f in history_model.tracked_fields if f.attname not in SKIPPED_FIELDS
    ]


def _entries(rows: QuerySet, *, object_type: str, label) -> Iterator[TimelineEntry]:
    """Turn the history rows of one or more objects into entries with from → to changes."""
    fields = _tracked_fields(rows.model)
    previous: dict[int, Model] = {}
    for row in rows.select_related("history_user").order_by("history_date", "history_id"):
        before = previous.get(row.id)
        changes = [
            Change(name, getattr(before, attname) if before else None, getattr(row, attname))
            for name, attname in fields
            if before is None or getattr(before, attname) != getattr(row, attname)
        ]
        if before is None:
            changes = [c for c in changes if c.new not in (None, "")]
        previous[row.id] = row
        if before is not None and not changes and row.history_type == "~":
            continue  # a save that changed nothing the timeline shows
        yield TimelineEntry(
            at=row.history_date,
            object_type=object_type,
            object_id=row.id,
            object_label=label(row),
            action=HISTORY_TYPES.get(row.history_type, row.history_type),
            changes=changes,
            source=row.history_source,
            reason=row.history_change_reason or "",
            by=row.history_user.get_username() if row.history_user else None,
        )


def visible_consent_ids(*, subject: Subject, user) -> list[int]:
    return list(
        DataConsent.objects.for_subject(subject).visible_to(user).values_list("pk", flat=True)
    )


def subject_history_streams(*, subject: Subject, user) -> Iterable[Iterator[TimelineEntry]]:
    model = type(subject)
    yield _entries(
        model.history.filter(id=subject.pk),
        object_type=subject.subject_type,
        label=lambda row: f"{model._meta.verbose_name} #{row.id}",
    )
    yield _entries(
        DataConsent.history.filter(id__in=visible_consent_ids(subject=subject, user=user)),
        object_type="data_consent",
        label=lambda row: f"data consent #{row.id}",
    )
    rows = contact_point_history(subject=subject)
    if rows is not None:
        yield _entries(rows, object_type="contact_point_consent", label=_contact_point_labeler())


def subject_timeline(*, subject: Subject, user) -> list[TimelineEntry]:
    """Every change, newest first."""
    entries = [
        entry for stream in subject_history_streams(subject=subject, user=user) for entry in stream
    ]
    return sorted(entries, key=lambda entry: entry.at, reverse=True)


def _model_dict(obj: Model, exclude=()) -> dict:
    """The stored fields; a foreign key under its field name holding the id (DESIGN §4)."""
    return {
        f.name: getattr(obj, f.attname) for f in obj._meta.concrete_fields if f.name not in exclude
    }


def _address_match(subject: Subject) -> Q | None:
    """Contact-point rows of the subject's current addresses; None when it has none."""
    match = None
    for channel, value in subject_addresses(subject):
        address = Q(channel=channel, value=value)
        match = address if match is None else match | address
    return match


def contact_point_history(*, subject: Subject) -> QuerySet | None:
    match = _address_match(subject)
    return None if match is None else ContactPointConsent.history.filter(match)


def _contact_point_labeler():
    purposes = dict(Purpose.objects.values_list("pk", "name"))
    topics = dict(Topic.objects.values_list("pk", "name"))

    def label(row) -> str:
        what = purposes.get(row.purpose_id, f"purpose #{row.purpose_id}")
        if row.topic_id:
            what += f" / {topics.get(row.topic_id, f'topic #{row.topic_id}')}"
        return f"{row.channel} {row.value}: {what}"

    return label


def _contact_point_records(subject: Subject) -> QuerySet:
    match = _address_match(subject)
    if match is None:
        return ContactPointConsent.objects.none()
    return (
        ContactPointConsent.objects.filter(match)
        .select_related("purpose", "topic")
        .order_by("channel", "purpose_id", "topic_id")
    )
