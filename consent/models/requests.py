"""Data subject requests (DESIGN §3.11, GDPR Art. 12(3)): what a person asked, by when it is due,
who handles it, and the outcome (the access report as sent, the erasure done)."""

import calendar
from datetime import datetime, timedelta

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.utils import timezone

from common.audit import audited_history
from consent.models.data_consent import ErasureRecord

OPEN_STATUSES = ("open", "in_progress")


def add_months(moment: datetime, months: int) -> datetime:
    """The same day `months` later, clipped to the month's end (31 Jan + 1 month = 28/29 Feb)."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


class DataSubjectRequestQuerySet(models.QuerySet):
    VIEWS = {
        "open": ("Open requests", "open"),
        "due_7_days": ("Requests due within 7 days", "due_7_days"),
        "overdue": ("Overdue requests", "overdue"),
    }

    def for_view(self, code: str):
        return getattr(self, self.VIEWS[code][1])()

    def open(self):
        """Not answered yet: open or in progress."""
        return self.filter(status__in=OPEN_STATUSES)

    def due_7_days(self):
        now = timezone.now()
        return self.open().filter(due_at__gte=now, due_at__lte=now + timedelta(days=7))

    def overdue(self):
        return self.open().filter(due_at__lt=timezone.now())

    def for_subject(self, subject):
        return self.filter(**{subject.subject_type: subject})


class DataSubjectRequest(models.Model):
    class Kind(models.TextChoices):
        ACCESS = "access", "Access (Art. 15)"
        ERASURE = "erasure", "Erasure (Art. 17)"
        RECTIFICATION = "rectification", "Rectification (Art. 16)"
        RESTRICTION = "restriction", "Restriction (Art. 18)"
        OBJECTION = "objection", "Objection (Art. 21)"
        PORTABILITY = "portability", "Portability (Art. 20)"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        IN_PROGRESS = "in_progress", "In progress"
        DONE = "done", "Done"
        REFUSED = "refused", "Refused"

    kind = models.CharField(max_length=13, choices=Kind.choices)
    lead = models.ForeignKey(
        "subjects.Lead",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="data_subject_requests",
        help_text="The subject, once identified (a lead or a contact).",
    )
    contact = models.ForeignKey(
        "subjects.Contact",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="data_subject_requests",
        help_text="The subject, once identified (a lead or a contact).",
    )
    requester = models.CharField(
        max_length=300, blank=True, help_text="Who asked, as they introduced themselves."
    )
    received_at = models.DateTimeField(default=timezone.now)
    due_at = models.DateTimeField(help_text="One month after receipt (Art. 12(3)).")
    extension_reason = models.TextField(
        blank=True, help_text="Why the deadline was extended (Art. 12(3): up to two months more)."
    )
    status = models.CharField(max_length=11, choices=Status.choices, default=Status.OPEN)
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="handled_data_subject_requests",
    )
    notes = models.TextField(blank=True)
    outcome = models.TextField(blank=True, help_text="What was done, or why it was refused.")
    completed_at = models.DateTimeField(null=True, blank=True)
    # The outcome: the access report exactly as sent (kept out of the history tables: one copy),
    # or the erasure record of the anonymization done.
    access_report = models.JSONField(
        null=True, blank=True, editable=False, encoder=DjangoJSONEncoder
    )
    erasure_record = models.ForeignKey(
        ErasureRecord, null=True, blank=True, on_delete=models.PROTECT, editable=False
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = DataSubjectRequestQuerySet.as_manager()
    history = audited_history(excluded_fields=["updated_at", "access_report"])

    class Meta:
        ordering = ["due_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(lead__isnull=True) | Q(contact__isnull=True),
                name="dsr_one_subject",
            ),
            models.CheckConstraint(
                condition=Q(
                    kind__in=[
                        "access",
                        "erasure",
                        "rectification",
                        "restriction",
                        "objection",
                        "portability",
                    ]
                ),
                name="dsr_kind_valid",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["open", "in_progress"], completed_at__isnull=True)
                | Q(status__in=["done", "refused"], completed_at__isnull=False),
                name="dsr_status_completed_consistent",
            ),
            models.CheckConstraint(
                condition=Q(due_at__gt=models.F("received_at")), name="dsr_due_after_received"
            ),
        ]
        indexes = [
            # "Open requests", "Requests due within 7 days", "Overdue requests" by due date.
            models.Index(
                fields=["due_at", "id"],
                name="dsr_open_due_idx",
                condition=Q(status__in=["open", "in_progress"]),
            ),
        ]

    def __str__(self):
        who = self.subject or self.requester or "unidentified requester"
        return f"{self.get_kind_display()} request #{self.pk} – {who}"

    @property
    def subject(self):
        return self.lead or self.contact

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES
