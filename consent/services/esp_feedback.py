"""ESP feedback (DESIGN §3.10): what an e-mail service provider reports about a recipient.

An `unsubscribed` event opts the address out per the profile's `unsubscribe_scope` (the
message's purpose and topic come from the message's metadata `consent_purpose` /
`consent_topic` when the sender set them; without them, every commercial purpose of the default
profile). A `complained` event (a spam report) opts it out of every commercial purpose of every
profile. Both are recorded with source `esp_feedback` and the provider's event id as reason,
through `customer_choices_record` like the customer's own pages, and each provider event is
applied once: its id (with the address's keyed hash) is kept in `EspFeedbackEvent`.
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime
from itertools import groupby

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from common.audit import Evidence, Source
from consent.addresses import normalize_address, normalized_address_hash
from consent.models import Channel, ComplianceProfile, EspFeedbackEvent, Purpose, Topic
from consent.services.customer import Choice, customer_choices_record, unsubscribe_choices

logger = logging.getLogger(__name__)
UNSUBSCRIBED = "unsubscribed"
COMPLAINED = "complained"
OPTED_OUT = "opted_out"


@dataclass(frozen=True)
class EspEvent:
    """The provider-neutral part of an ESP's tracking event (anymail's normalized event)."""

    provider: str
    event_type: str
    recipient: str | None
    event_id: str | None = None
    message_id: str | None = None
    timestamp: datetime | None = None
    metadata: dict = field(default_factory=dict)

    @property
    def key(self) -> str:
        """The provider's event id; for providers that send none with this event type
        (Postmark's subscription changes), the message id, type and time."""
        if self.event_id:
            return str(self.event_id)[:200]
        when = self.timestamp.isoformat() if self.timestamp else ""
        return f"{self.message_id or ''}/{self.event_type}/{when}"[:200]


@transaction.atomic
def esp_feedback_record(*, event: EspEvent) -> str:
    """Apply one ESP event: "applied", "duplicate" (seen before) or "ignored" (another event
    type, or no valid address)."""
    if event.event_type not in (UNSUBSCRIBED, COMPLAINED):
        return "ignored"
    try:
        value = normalize_address(Channel.EMAIL, event.recipient or "")
    except ValidationError:
        logger.warning("%s %s event without a valid recipient", event.provider, event.event_type)
        return "ignored"
    if not _first_time(event, value):
        return "duplicate"
    evidence = Evidence(
        source=Source.ESP_FEEDBACK,
        reason=event.key,
        description=f"{event.provider} {event.event_type} event",
        requested_by=f"the recipient, through {event.provider}",
    )
    by_profile = _complaint_choices() if event.event_type == COMPLAINED else _unsubscribe(event)
    for profile, choices in by_profile:
        customer_choices_record(
            profile=profile, channel=Channel.EMAIL, value=value, choices=choices, evidence=evidence
        )
    return "applied"


def _first_time(event: EspEvent, value: str) -> bool:
    try:
        with transaction.atomic():  # a savepoint: the duplicate's failed insert leaves nothing
            EspFeedbackEvent.objects.create(
                provider=event.provider[:40],
                event_id=event.key,
                address_hash=normalized_address_hash(value),
                event_type=event.event_type,
            )
    except IntegrityError:
        return False
    return True


def _complaint_choices() -> list[tuple[ComplianceProfile, list[Choice]]]:
    """Every commercial purpose of every profile, per profile."""
    purposes = (
        Purpose.objects.filter(kind=Purpose.Kind.COMMERCIAL)
        .select_related("profile")
        .order_by("profile_id", "pk")
    )
    return [
        (group[0].profile, [Choice(purpose, None, OPTED_OUT) for purpose in group])
        for _, grouped in groupby(purposes, key=lambda purpose: purpose.profile_id)
        for group in (list(grouped),)
    ]


def _unsubscribe(event: EspEvent) -> list[tuple[ComplianceProfile, list[Choice]]]:
    purpose, topic = _message_scope(event.metadata or {})
    profile = purpose.profile if purpose else ComplianceProfile.objects.default()
    return [(profile, unsubscribe_choices(profile=profile, purpose=purpose, topic=topic))]


def _message_scope(metadata: dict) -> tuple[Purpose | None, Topic | None]:
    """The purpose and topic the sender put in the message's metadata, if they exist."""
    purpose = _by_id(Purpose.objects.select_related("profile"), metadata.get("consent_purpose"))
    if purpose is None:
        return None, None
    topic = _by_id(Topic.objects.filter(purpose=purpose), metadata.get("consent_topic"))
    return purpose, topic


def _by_id(queryset, raw):
    text = str(raw or "").strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        return None
    return queryset.filter(pk=int(text)).first()
