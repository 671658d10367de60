"""An admin bulk action over many rows, run as a Celery job (DESIGN §5, issue 15 item 21)."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class BulkAction(models.Model):
    """One bulk action (e.g. "contact.deactivate") over a fixed list of ids, resumable: each
    row's service call and the move of `position` past it commit together, so a job that dies
    (or is redelivered) carries on after the last row it finished, never applying one twice."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"

    action = models.CharField(max_length=40)
    object_ids = models.JSONField(default=list, editable=False)
    position = models.PositiveIntegerField(default=0, help_text="Rows processed so far.")
    done = models.PositiveIntegerField(default=0, help_text="Rows the action applied to.")
    errors = models.JSONField(default=list, blank=True, help_text="Refused rows: id, message.")
    status = models.CharField(max_length=7, choices=Status.choices, default=Status.QUEUED)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="bulk_actions",
        editable=False,
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    finished_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["queued", "running", "done"]),
                name="bulkaction_status_valid",
            ),
        ]

    def __str__(self):
        return f"Bulk action #{self.pk}: {self.action} ({self.position}/{self.total})"

    @property
    def total(self) -> int:
        return len(self.object_ids)

    @property
    def progress_percent(self) -> int:
        return 100 if not self.total else round(100 * self.position / self.total)
