"""Consent loads (DESIGN §3.8): a CSV import or a migration from subjects, run as a job.

The uploaded file is stored in the database, in chunks of at most CHUNK_SIZE bytes
(`ConsentLoadChunk`), not on a file system: the Celery worker that runs the load may be on
another machine, and the project has no shared media storage. Chunks keep memory bounded on
both sides — the upload is written chunk by chunk, the worker streams them back one at a time —
and a chunk stays far below any driver or protocol limit on one value. The chunks are deleted
when the load can no longer be run (done, failed, or a dry run that cannot be confirmed), so no
copy of the addresses outlives the load (GDPR Art. 17: erasure must not miss a stored file).
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from consent.models.contact_point import ComplianceProfile

CHUNK_SIZE = 1024 * 1024

# The counters of a load, in report order. `written` is what was actually inserted or updated
# (one history row each); the others classify every row of the file.
COUNT_NAMES = (
    "rows",
    "opt_ins",
    "opt_outs",
    "other_changes",
    "unchanged",
    "stale",
    "invalid",
    "duplicates",
    "suppressed",
    "written",
)
COUNT_LABELS = {
    "rows": "Rows read",
    "opt_ins": "New opt-ins",
    "opt_outs": "New opt-outs",
    "other_changes": "Other changes (not set, or new evidence for the same status)",
    "unchanged": "Unchanged",
    "stale": "Stale (older than the stored record)",
    "invalid": "Invalid rows",
    "duplicates": "Duplicates within the file",
    "suppressed": "Suppressed addresses (never opted in)",
    "written": "Written",
}


class ConsentLoad(models.Model):
    class Mode(models.TextChoices):
        REJECT = "reject", "Reject the file if any row is invalid"
        SKIP = "skip", "Skip invalid rows, write the valid ones"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        PREVIEWED = "previewed", "Previewed (dry run)"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    FINISHED = frozenset({Status.PREVIEWED, Status.DONE, Status.FAILED})

    file_name = models.CharField(max_length=255, blank=True)
    file_size = models.PositiveBigIntegerField(default=0, editable=False)
    profile = models.ForeignKey(
        ComplianceProfile, on_delete=models.PROTECT, related_name="consent_loads"
    )
    mode = models.CharField(max_length=6, choices=Mode.choices, default=Mode.REJECT)
    dry_run = models.BooleanField(
        default=False, help_text="Only report what would change; write nothing."
    )
    from_subjects = models.BooleanField(
        default=False,
        help_text="Migration mode: build contact-point consent from subject preferences and "
        "subscription lists instead of a file.",
    )
    status = models.CharField(max_length=9, choices=Status.choices, default=Status.PENDING)
    rows_total = models.PositiveIntegerField(
        default=0, help_text="Rows to process (an estimate from the line count until done)."
    )
    rows_processed = models.PositiveIntegerField(default=0)
    counts = models.JSONField(default=dict, blank=True)
    row_errors = models.JSONField(
        default=list, blank=True, help_text="The first rows not loaded: line, column, message."
    )
    row_errors_total = models.PositiveIntegerField(default=0)
    message = models.TextField(blank=True, help_text="Why the load was refused or failed.")
    preview = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="confirmations",
        editable=False,
        help_text="The dry run this load confirms (its file moved here).",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="consent_loads",
        editable=False,
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    started_at = models.DateTimeField(null=True, blank=True, editable=False)
    finished_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(mode__in=["reject", "skip"]), name="consentload_mode_valid"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "running", "previewed", "done", "failed"]),
                name="consentload_status_valid",
            ),
        ]

    def __str__(self):
        what = "migration from subjects" if self.from_subjects else self.file_name
        return f"Consent load #{self.pk}: {what} ({self.get_status_display()})"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def progress_percent(self) -> int | None:
        if not self.rows_total:
            return None
        return min(100, round(100 * self.rows_processed / self.rows_total))

    @property
    def can_confirm(self) -> bool:
        """A preview not confirmed yet, whose file is still here; invalid rows block `reject`."""
        if self.status != self.Status.PREVIEWED or not self.dry_run:
            return False
        if self.mode == self.Mode.REJECT and self.counts.get("invalid", 0) > 0:
            return False
        if self.confirmations.exists():
            return False
        return self.from_subjects or self.chunks.exists()

    @property
    def all_counts(self) -> dict[str, int]:
        return {name: self.counts.get(name, 0) for name in COUNT_NAMES}

    def count_rows(self) -> list[tuple[str, str, int]]:
        """(code, label, value) of every counter, in report order."""
        return [(name, COUNT_LABELS[name], self.counts.get(name, 0)) for name in COUNT_NAMES]


class ConsentLoadChunk(models.Model):
    """One piece of an uploaded file, in order (see the module docstring for why)."""

    load = models.ForeignKey(ConsentLoad, on_delete=models.CASCADE, related_name="chunks")
    number = models.PositiveIntegerField()
    data = models.BinaryField()

    class Meta:
        ordering = ["load_id", "number"]
        constraints = [
            # Also serves the worker's read: the chunks of one load, in order.
            models.UniqueConstraint(fields=["load", "number"], name="consentloadchunk_uniq"),
        ]

    def __str__(self):
        return f"Chunk {self.number} of load #{self.load_id}"
