"""What the pages show and what a submitted form changes.

A purpose or topic is shown "on" when the address receives it as far as its own records go
(DESIGN §3.4 rules 7–11): not opted out, and opted in where an opt-in is required. Topics of a
purpose that is off are shown off. A submitted form becomes the list of `Choice`s that make the
records say what the customer ticked — only the rows that differ, so an unchanged form writes
nothing; except an opt-in given under a notice older than the profile's latest material notice
(DESIGN §3.9): saving it again re-confirms it under the current notice version (re-consent).
"""

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Prefetch
from django.utils import timezone

from consent.models import ComplianceProfile, ContactPointConsent, Notice, Purpose, Topic
from consent.services.customer import Choice, unsubscribe_choices  # noqa: F401 (re-exported)

Status = ContactPointConsent.Status


@dataclass(frozen=True)
class TopicRow:
    topic: Topic
    status: str
    allows: bool  # the topic's own record allows it (whatever the purpose says)
    receiving: bool  # shown on: the purpose and the topic both allow it
    outdated: bool = False  # an opt-in given under an outdated notice: saving re-confirms it


@dataclass(frozen=True)
class PurposeRow:
    purpose: Purpose
    status: str
    receiving: bool
    topics: list[TopicRow]
    outdated: bool = False  # as TopicRow.outdated


def commercial_purposes(profile: ComplianceProfile) -> list[Purpose]:
    """The purposes a customer manages: the profile's commercial ones that are checked at all."""
    active_topics = Prefetch("topics", queryset=Topic.objects.filter(active=True))
    return list(
        profile.purposes.filter(kind=Purpose.Kind.COMMERCIAL)
        .exclude(consent_model=Purpose.ConsentModel.DISABLED)
        .prefetch_related(active_topics)
        .order_by("name", "pk")
    )


def _allows(status: str, opt_in_required: bool) -> bool:
    return status == Status.OPTED_IN if opt_in_required else status != Status.OPTED_OUT


def _statuses(
    channel: str, value: str, purposes: list[Purpose]
) -> tuple[dict[tuple, str], set[tuple]]:
    """{(purpose id, topic id or None): status}, an expired opt-in counting as not set; and the
    keys of the opt-ins given under an outdated notice (re-consent, DESIGN §3.9)."""
    now = timezone.now()
    rows = ContactPointConsent.objects.filter(
        channel=channel, value=value, purpose__in=purposes
    ).values_list("purpose_id", "topic_id", "status", "expires_at", "notice_version")
    profile_ids = {purpose.profile_id for purpose in purposes}
    current = Notice.objects.current_versions(profile_ids=profile_ids) if purposes else {}
    current = next(iter(current.values()), None)
    statuses, outdated = {}, set()
    for purpose_id, topic_id, status, expires_at, notice_version in rows:
        if status == Status.OPTED_IN and expires_at is not None and expires_at <= now:
            status = Status.NOT_SET
        statuses[(purpose_id, topic_id)] = status
        if status == Status.OPTED_IN and current is not None and notice_version not in current:
            outdated.add((purpose_id, topic_id))
    return statuses, outdated


def preference_rows(*, profile: ComplianceProfile, channel: str, value: str) -> list[PurposeRow]:
    """The current state of an address, purpose by purpose (four queries)."""
    purposes = commercial_purposes(profile)
    statuses, outdated = _statuses(channel, value, purposes)
    rows = []
    for purpose in purposes:
        required = purpose.requires_opt_in(channel)
        status = statuses.get((purpose.pk, None), Status.NOT_SET)
        receiving = _allows(status, required)
        topics = []
        for topic in purpose.topics.all():
            topic_status = statuses.get((purpose.pk, topic.pk), Status.NOT_SET)
            allows = _allows(topic_status, required)
            topics.append(
                TopicRow(
                    topic,
                    topic_status,
                    allows,
                    receiving and allows,
                    (purpose.pk, topic.pk) in outdated,
                )
            )
        rows.append(PurposeRow(purpose, status, receiving, topics, (purpose.pk, None) in outdated))
    return rows


def changes_from_form(
    rows: Iterable[PurposeRow], *, purpose_ids: set[int], topic_ids: set[int]
) -> list[Choice]:
    """The records to write so each purpose and topic is as ticked.

    Ticking a topic that was off also switches its purpose on; a purpose left unticked is
    opted out and its topics are left as they are (they show off while the purpose is off).
    """
    choices = []
    for row in rows:
        newly_ticked = [t for t in row.topics if t.topic.pk in topic_ids and not t.receiving]
        wanted = row.purpose.pk in purpose_ids or bool(newly_ticked)
        if wanted != row.receiving or (wanted and row.outdated):
            choices.append(Choice(row.purpose, None, _status(wanted)))
        if not wanted:
            continue
        for topic_row in row.topics:
            ticked = topic_row.topic.pk in topic_ids
            if ticked != topic_row.allows or (ticked and topic_row.outdated):
                choices.append(Choice(row.purpose, topic_row.topic, _status(ticked)))
    return choices


def sign_up_choices(
    purposes: Iterable[Purpose], *, purpose_ids: set[int], topic_ids: set[int]
) -> list[Choice]:
    """Opt-ins for what a sign-up ticked: each topic, and the purpose of every ticked topic."""
    choices = []
    for purpose in purposes:
        topics = [topic for topic in purpose.topics.all() if topic.pk in topic_ids]
        if purpose.pk in purpose_ids or topics:
            choices.append(Choice(purpose, None, Status.OPTED_IN))
        choices.extend(Choice(purpose, topic, Status.OPTED_IN) for topic in topics)
    return choices


def _status(on: bool) -> str:
    return Status.OPTED_IN if on else Status.OPTED_OUT
