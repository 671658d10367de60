"""The outbox: what the services call, inside their transaction, when consent changes.

`event_emit` writes one `WebhookDelivery` per active endpoint subscribed to the event type, in
the caller's transaction (a rolled-back change sends nothing; a committed one is never lost),
and asks for a delivery run of those endpoints once the transaction commits. Bulk paths call
`events_emit` with every event of a batch: one multi-row INSERT per batch.

Payloads hold ids and codes; a contact-point event also holds the address (the receiver needs
it to apply the change) and its keyed hash, which `subject.anonymized` later names so receivers
can erase too. Purpose and topic names are the base (English) texts whatever the language of
the request that made the change (a Dutch visitor's preference page sends "Events", not
"Evenementen"). A confidential data consent's event goes only to endpoints marked
`receives_confidential` (other endpoints get no event for it at all).
"""

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation

from consent.addresses import address_hasher, normalized_address_hash
from consent.models import (
    ContactPointConsent,
    DataConsent,
    DataPolicy,
    Purpose,
    Suppression,
    Topic,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEventType,
)

EventType = WebhookEventType
INSERT_BATCH = 1000


@dataclass(frozen=True)
class Event:
    data: dict
    address_key: str
    confidential: bool = False


def event_emit(*, event_type: str, data: dict, address_key: str, confidential: bool = False) -> int:
    """Queue one event for every subscribed endpoint; the number of deliveries written."""
    return events_emit(event_type=event_type, events=[Event(data, address_key, confidential)])


def events_emit(*, event_type: str, events: Iterable[Event]) -> int:
    """Queue many events of one type (bulk paths): one INSERT per INSERT_BATCH deliveries."""
    endpoints = subscribed_endpoints(event_type)
    if not endpoints:
        return 0
    now = timezone.now()
    rows = [
        WebhookDelivery(
            endpoint=endpoint,
            event_id=f"msg_{event_id}",
            event_type=event_type,
            address_key=event.address_key,
            data=event.data,
            created_at=now,
            next_attempt_at=now,
        )
        for event in events
        for event_id in (uuid.uuid4().hex,)
        for endpoint in endpoints
        if endpoint.receives_confidential or not event.confidential
    ]
    WebhookDelivery.objects.bulk_create(rows, batch_size=INSERT_BATCH)
    if rows:
        dispatch_after_commit({row.endpoint_id for row in rows})
    return len(rows)


def subscribed_endpoints(event_type: str) -> list[WebhookEndpoint]:
    # A handful of endpoints at most: filtered in Python (JSON containment is not portable).
    return [e for e in WebhookEndpoint.objects.filter(active=True) if event_type in e.events]


def dispatch_after_commit(endpoint_ids: Iterable[int]) -> None:
    """Start a delivery run per endpoint once the transaction commits. `robust`: a broker that
    is down must not fail the committed change; the periodic sweep finds the rows later."""
    connection = transaction.get_connection()
    token = getattr(connection, "_webhook_epoch", 0)
    for endpoint_id in sorted(set(endpoint_ids)):
        transaction.on_commit(_Dispatch(endpoint_id, token), robust=True)


class _Dispatch:
    """One after-commit callback per change, but one run per endpoint per commit: the
    callbacks registered before a commit share its token, and the first one that runs for an
    endpoint dispatches for all of them (a load or a sweep emits thousands in one commit)."""

    def __init__(self, endpoint_id: int, token: int):
        self.endpoint_id, self.token = endpoint_id, token

    def __call__(self) -> None:
        from consent.tasks import deliver_webhooks  # the task module imports the delivery

        connection = transaction.get_connection()
        connection._webhook_epoch = max(getattr(connection, "_webhook_epoch", 0), self.token + 1)
        dispatched = connection.__dict__.setdefault("_webhook_dispatched", {})
        if dispatched.get(self.endpoint_id) == self.token:
            return
        dispatched[self.endpoint_id] = self.token
        deliver_webhooks.delay(self.endpoint_id)


# ---------------------------------------------------------------------------------------------
# Address keys: deliveries of one endpoint with the same key go out in order.


def address_key(channel: str, value_hash: str) -> str:
    return f"{channel}:{value_hash}"


def subject_key(subject_type: str, subject_id: int) -> str:
    return f"{subject_type}:{subject_id}"


# ---------------------------------------------------------------------------------------------
# Payloads


def _instant(value: datetime | date | None) -> str | None:
    if value is None:
        return None
    text = value.isoformat()
    return text.replace("+00:00", "Z") if isinstance(value, datetime) else text


def contact_point_event(
    record: ContactPointConsent, *, purpose_name: str, topic_name: str | None, value_hash: str
) -> Event:
    data = {
        "id": record.id,  # a history row's too: the record's id, not the history row's
        "channel": record.channel,
        "value": record.value,
        "address_hash": value_hash,
        "purpose": record.purpose_id,
        "purpose_name": purpose_name,
        "topic": record.topic_id,
        "topic_name": topic_name,
        "status": record.status,
        "source": record.source,
        "reason": record.reason,
        "captured_at": _instant(record.captured_at),
        "expires_at": _instant(record.expires_at),
        "notice_version": record.notice_version,
    }
    return Event(data, address_key(record.channel, value_hash))


def contact_point_consent_changed(record: ContactPointConsent) -> int:
    """`contact_point_consent.changed` for one record (its purpose and topic loaded)."""
    with translation.override(settings.MODELTRANSLATION_DEFAULT_LANGUAGE):
        event = contact_point_event(
            record,
            purpose_name=record.purpose.name,
            topic_name=record.topic.name if record.topic_id else None,
            value_hash=normalized_address_hash(record.value),
        )
    return events_emit(event_type=EventType.CONTACT_POINT_CONSENT_CHANGED, events=[event])


def contact_points_changed(records: Iterable[ContactPointConsent]) -> int:
    """`contact_point_consent.changed` for many records (or their history rows): bulk paths.
    Names are read once per batch and the keyed hashes computed with one prepared key."""
    if not subscribed_endpoints(EventType.CONTACT_POINT_CONSENT_CHANGED):
        return 0
    records = list(records)
    topic_ids = {r.topic_id for r in records} - {None}
    with translation.override(settings.MODELTRANSLATION_DEFAULT_LANGUAGE):
        purposes = dict(
            Purpose.objects.filter(pk__in={r.purpose_id for r in records}).values_list("pk", "name")
        )
        topics = dict(Topic.objects.filter(pk__in=topic_ids).values_list("pk", "name"))
    hasher = address_hasher()
    events = [
        contact_point_event(
            record,
            purpose_name=purposes.get(record.purpose_id, ""),
            topic_name=topics.get(record.topic_id),
            value_hash=hasher(record.value),
        )
        for record in records
    ]
    return events_emit(event_type=EventType.CONTACT_POINT_CONSENT_CHANGED, events=events)


LOAD_EVENT_BATCH = 5000


def contact_points_loaded(*, after_history_id: int, history_date: datetime) -> int:
    """The events of a consent load: one per written record, read back from the history rows
    the load wrote (ids above `after_history_id`, its date), in batches of LOAD_EVENT_BATCH
    with one INSERT each. Nothing is read unless an endpoint subscribes."""
    if not subscribed_endpoints(EventType.CONTACT_POINT_CONSENT_CHANGED):
        return 0
    history = ContactPointConsent.history.model.objects.filter(history_date=history_date)
    emitted, last = 0, after_history_id
    history = history.order_by("history_id")
    while batch := list(history.filter(history_id__gt=last)[:LOAD_EVENT_BATCH]):
        emitted += contact_points_changed(batch)
        last = batch[-1].history_id
    return emitted


def data_consent_event(consent: DataConsent, *, action: str, policy_name: str) -> Event:
    data = {
        "id": consent.pk,
        "action": action,
        "lead": consent.lead_id,
        "contact": consent.contact_id,
        "policy": consent.policy_id,
        "policy_name": policy_name,
        "consent_level": consent.consent_level,
        "state": consent.state,
        "status_reason": consent.status_reason,
        "given_at": _instant(consent.given_at),
        "valid_until": _instant(consent.valid_until),
        "confidential": consent.confidential,
        "source": consent.source,
    }
    subject = ("lead", consent.lead_id) if consent.lead_id else ("contact", consent.contact_id)
    return Event(data, subject_key(*subject), consent.confidential)


def data_consents_changed(consents: Iterable[DataConsent], *, action: str) -> int:
    """`data_consent.changed` for each consent (`action`: created, edited, cancelled,
    reactivated, expired, anonymized, unlinked)."""
    consents = list(consents)
    if not consents or not subscribed_endpoints(EventType.DATA_CONSENT_CHANGED):
        return 0
    names = dict(
        DataPolicy.objects.filter(pk__in={c.policy_id for c in consents}).values_list("pk", "name")
    )
    events = [
        data_consent_event(c, action=action, policy_name=names.get(c.policy_id, ""))
        for c in consents
    ]
    return events_emit(event_type=EventType.DATA_CONSENT_CHANGED, events=events)


def suppression_created(suppression: Suppression) -> int:
    data = {
        "id": suppression.pk,
        "channel": suppression.channel,
        "address_hash": suppression.value_hash,
        "reason": suppression.reason,
        "created_at": _instant(suppression.created_at),
    }
    return event_emit(
        event_type=EventType.SUPPRESSION_CREATED,
        data=data,
        address_key=address_key(suppression.channel, suppression.value_hash),
    )


def subject_anonymized(
    *, subject_type: str, subject_id: int, erasure_record, addresses: list[tuple[str, str]]
) -> int:
    """`subject.anonymized`: ids, the erasure record and the keyed hashes of the addresses the
    subject held (`addresses`: (channel, hash)) — no personal data."""
    data = {
        "subject_type": subject_type,
        "subject_id": subject_id,
        "erasure_record": erasure_record.pk,
        "anonymized_at": _instant(erasure_record.erased_at),
        "addresses": [{"channel": c, "address_hash": h} for c, h in addresses],
    }
    return event_emit(
        event_type=EventType.SUBJECT_ANONYMIZED,
        data=data,
        address_key=subject_key(subject_type, subject_id),
    )


def deliveries_scrub_address(*, channel: str, value_hash: str) -> int:
    """Erasure: the outbox keeps no copy of an erased address (delivered or not). Pending
    deliveries still go out, with the keyed hash but without the address."""
    rows = list(
        WebhookDelivery.objects.filter(address_key=address_key(channel, value_hash)).only(
            "pk", "data"
        )
    )
    for row in rows:
        if isinstance(row.data, dict) and "value" in row.data:
            row.data = {**row.data, "value": None}
    WebhookDelivery.objects.bulk_update(rows, ["data"], batch_size=INSERT_BATCH)
    return len(rows)
