"""Writes on webhook endpoints and the delivery log (DESIGN §3.10): DPO configuration."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from consent.models import WebhookDelivery, WebhookEndpoint, WebhookEventType
from consent.webhooks.events import dispatch_after_commit
from consent.webhooks.targets import TargetRefused, target_resolve

ENDPOINT_FIELDS = ("url", "description", "events", "active", "receives_confidential", "secret")


def webhook_endpoint_validate(*, url: str, events, secret: str) -> None:
    """Field errors for a target webhooks may not go to (SSRF, §3.10), unknown event types or
    a secret Standard Webhooks cannot sign with."""
    errors = {}
    try:
        Webhook(secret)
    except Exception:  # the library raises several kinds for a bad secret
        errors["secret"] = "Enter a Standard Webhooks secret: whsec_ and base64 (24+ bytes)."
    else:
        if len(secret) < 30:
            errors["secret"] = "Enter a Standard Webhooks secret: whsec_ and base64 (24+ bytes)."
    try:
        target_resolve(url)
    except TargetRefused as exc:
        errors["url"] = str(exc)
    if not isinstance(events, list) or not events:
        errors["events"] = "Choose at least one event type."
    else:
        unknown = [e for e in events if e not in WebhookEventType.values]
        if unknown:
            errors["events"] = f"Unknown event type(s): {', '.join(map(str, unknown))}."
        elif len(set(events)) != len(events):
            errors["events"] = "Each event type once."
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def webhook_endpoint_save(*, endpoint: WebhookEndpoint, data: dict) -> WebhookEndpoint:
    """Create or update an endpoint after checking its URL and events."""
    unknown = set(data) - set(ENDPOINT_FIELDS)
    if unknown:
        raise ValidationError(dict.fromkeys(sorted(unknown), "This field cannot be set."))
    for name, value in data.items():
        setattr(endpoint, name, value)
    webhook_endpoint_validate(url=endpoint.url, events=endpoint.events, secret=endpoint.secret)
    endpoint.full_clean()
    endpoint.save()
    return endpoint


@transaction.atomic
def webhook_delivery_redeliver(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a logged delivery again: a new pending delivery with the same webhook-id and
    payload (a receiver that already has it drops it), queued after the key's pending ones."""
    now = timezone.now()
    copy = WebhookDelivery.objects.create(
        endpoint_id=delivery.endpoint_id,
        event_id=delivery.event_id,
        event_type=delivery.event_type,
        address_key=delivery.address_key,
        data=delivery.data,
        created_at=now,
        next_attempt_at=now,
        redelivery_of=delivery,
    )
    dispatch_after_commit([delivery.endpoint_id])
    return copy
