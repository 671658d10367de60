"""ESP feedback (DESIGN §3.10): the provider events already applied, so a provider's retry of
the same event changes nothing. The address is held only as its keyed hash (one provider event,
e.g. an Amazon SES notification, may name several recipients)."""

from django.db import models


class EspFeedbackEvent(models.Model):
    provider = models.CharField(max_length=40)
    event_id = models.CharField(max_length=200)
    address_hash = models.CharField(max_length=64)
    event_type = models.CharField(max_length=40)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "event_id", "address_hash"], name="esp_event_uniq"
            ),
        ]

    def __str__(self):
        return f"{self.provider} {self.event_type} {self.event_id}"
