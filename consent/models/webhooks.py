"""Outbound webhooks (DESIGN §3.10): the endpoints integrators register, and the outbox.

An audited write that changes consent calls `consent.webhooks.events.event_emit` inside its
transaction: one `WebhookDelivery` row per subscribed endpoint is written with the change, so a
rolled-back change sends nothing and a committed one is never lost. A Celery task delivers the
rows after commit, oldest first per (endpoint, address key).
"""

import secrets
from base64 import b64encode

from django.db import models
from django.db.models import Q
from django.utils import timezone


class WebhookEventType(models.TextChoices):
    CONTACT_POINT_CONSENT_CHANGED = "contact_point_consent.changed", "Contact-point consent changed"
    DATA_CONSENT_CHANGED = "data_consent.changed", "Data consent changed"
    SUBJECT_ANONYMIZED = "subject.anonymized", "Subject anonymized"
    SUPPRESSION_CREATED = "suppression.created", "Suppression created"


def new_webhook_secret() -> str:
    """A Standard Webhooks signing secret: `whsec_` and 32 random bytes in base64."""
    return "whsec_" + b64encode(secrets.token_bytes(32)).decode()


class WebhookEndpoint(models.Model):
    url = models.URLField(
        max_length=500, help_text="An https URL on a public address (the receiver's)."
    )
    description = models.CharField(max_length=200, blank=True)
    secret = models.CharField(
        max_length=100,
        default=new_webhook_secret,
        help_text="Signing secret (Standard Webhooks, whsec_…): the receiver verifies with it.",
    )
    events = models.JSONField(
        default=list, help_text="Event types delivered to this endpoint (a list of codes)."
    )
    active = models.BooleanField(default=True)
    receives_confidential = models.BooleanField(
        default=False,
        help_text="Also deliver data_consent.changed events of confidential data consents.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return self.description or self.url


class WebhookDeliveryQuerySet(models.QuerySet):
    def pending(self):
        return self.filter(status=WebhookDelivery.Status.PENDING)


class WebhookDelivery(models.Model):
    """One event for one endpoint: the outbox row and its delivery log entry."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed (given up)"

    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event_id = models.CharField(max_length=40, help_text="The webhook-id receivers dedupe on.")
    event_type = models.CharField(max_length=40, choices=WebhookEventType.choices)
    # Deliveries of one endpoint with the same key go out in id order: a contact point's
    # address ("email:<keyed hash>"), or a subject ("lead:12").
    address_key = models.CharField(max_length=80)
    data = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=9, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_until = models.DateTimeField(null=True, blank=True, editable=False)
    claim_token = models.CharField(max_length=32, blank=True, editable=False)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    redelivery_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="redeliveries"
    )

    objects = WebhookDeliveryQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["pending", "delivered", "failed"]),
                name="webhookdelivery_status_valid",
            ),
        ]
        indexes = [
            # The drain: the oldest pending delivery of each (endpoint, address key); also the
            # sweep's and the retry's scan of an endpoint's pending rows. Deliberately the only
            # index on pending rows: on a fresh outbox (no statistics yet) the planner would
            # otherwise probe the anti-join through an index without the address key.
            models.Index(
                fields=["endpoint", "address_key", "id"],
                name="whd_pending_key_idx",
                condition=Q(status="pending"),
            ),
            # Erasure: every delivery of an address.
            models.Index(fields=["address_key"], name="whd_address_key_idx"),
        ]

    def __str__(self):
        return f"{self.event_type} {self.event_id} → {self.endpoint_id}"

    @property
    def body(self) -> dict:
        """What is POSTed: `{"id", "type", "created_at", "data"}` (DESIGN §3.10)."""
        return {
            "id": self.event_id,
            "type": self.event_type,
            "created_at": self.created_at.isoformat().replace("+00:00", "Z"),
            "data": self.data,
        }
