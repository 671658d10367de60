from datetime import date, timedelta

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from common.audit import Source, audited_history
from subjects.models import ConsentLevel

MAX_VALIDITY_DAYS = 36_600  # a century; beyond that a date overflows long before it matters


REPORT_TEXT_FIELDS = ("recipients_text", "retention_text", "source_text", "rights_text")


class ReportTexts(models.Model):
    """What the access report (Art. 15(1)) says for a data policy, or for the purposes of a
    compliance profile, beside the data itself; an empty text falls back to a default."""

    recipients_text = models.TextField(
        "Recipients",
        blank=True,
        help_text="Recipients or categories of recipients (Art. 15(1)(c)).",
    )
    retention_text = models.TextField(
        "Retention", blank=True, help_text="How long the data is kept, or the criteria (15(1)(d))."
    )
    source_text = models.TextField(
        "Source of the data", blank=True, help_text="Where the data comes from (Art. 15(1)(g))."
    )
    rights_text = models.TextField(
        "Rights and how to exercise them",
        blank=True,
        help_text="Rectification, erasure, restriction, objection, complaint (Art. 15(1)(e)-(f)).",
    )

    class Meta:
        abstract = True


class DataPolicy(ReportTexts, models.Model):
    class LegalBasis(models.TextChoices):
        CONSENT = "consent", "Consent"
        CONTRACT = "contract", "Contract"
        LEGAL_OBLIGATION = "legal_obligation", "Legal obligation"
        VITAL_INTERESTS = "vital_interests", "Vital interests"
        PUBLIC_TASK = "public_task", "Public task"
        LEGITIMATE_INTERESTS = "legitimate_interests", "Legitimate interests"

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    consent_level = models.PositiveSmallIntegerField(
        choices=ConsentLevel.choices, validators=[MaxValueValidator(5)]
    )
    validity_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MaxValueValidator(MAX_VALIDITY_DAYS)],
        help_text="Days a consent stays valid; empty = no expiry.",
    )
    legal_basis = models.CharField(
        max_length=24, choices=LegalBasis.choices, default=LegalBasis.CONSENT
    )
    notice_url = models.URLField(blank=True)
    notice_version = models.CharField(max_length=50, blank=True)
    active = models.BooleanField(default=True)

    history = audited_history()

    class Meta:
        verbose_name_plural = "data policies"
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(consent_level__gte=0, consent_level__lte=5),
                name="datapolicy_consent_level_range",
            ),
        ]

    def __str__(self):
        return self.name

    def default_valid_until(self, given_at) -> date | None:
        if self.validity_days is None:
            return None
        return (given_at + timedelta(days=self.validity_days)).date()


class ConsentLevelSubstatus(models.Model):
    level = models.PositiveSmallIntegerField(choices=ConsentLevel.choices)
    name = models.CharField(max_length=100)

    class Meta:
        verbose_name_plural = "consent level substatuses"
        ordering = ["level", "name"]
        constraints = [
            models.UniqueConstraint(fields=["level", "name"], name="substatus_level_name_uniq"),
        ]

    def __str__(self):
        return f"{self.get_level_display()} – {self.name}"


class DataConsentQuerySet(models.QuerySet):
    VIEWS = {
        "active": ("Active Data Consents", "active"),
        "all": ("All Data Consents", "all"),
        "expiring_2_weeks": ("Expiring Data Consents - Next 2 weeks", "expiring_2_weeks"),
        "expiring_this_year": ("Expiring Data Consents - This Year", "expiring_this_year"),
        "inactive": ("Inactive Data Consents", "inactive"),
        "inactive_anonymized": ("Inactive Data Consents Anonymized", "inactive_anonymized"),
        "inactive_cancelled": ("Inactive Data Consents Cancelled", "inactive_cancelled"),
        "inactive_expired": ("Inactive Data Consents Expired", "inactive_expired"),
    }

    def for_view(self, code: str):
        return getattr(self, self.VIEWS[code][1])()

    def outdated(self, policy):
        """Active consents under `policy` given under a notice older than its latest material
        notice (DESIGN §3.9 re-consent): none while the policy has no material notice."""
        from consent.models.notices import Notice

        current = Notice.objects.current_versions(policy_ids=[policy.pk]).get(("policy", policy.pk))
        if current is None:
            return self.none()
        return self.active().filter(policy=policy).exclude(notice_version__in=current)

    def active(self):
        return self.filter(state=DataConsent.State.ACTIVE)

    def inactive(self):
        return self.filter(state=DataConsent.State.INACTIVE)

    def expiring_within(self, *, days: int):
        today = timezone.localdate()
        return self.active().filter(
            valid_until__gte=today, valid_until__lte=today + timedelta(days)
        )

    def expiring_2_weeks(self):
        return self.expiring_within(days=14)

    def expiring_this_year(self):
        today = timezone.localdate()
        return self.active().filter(valid_until__lt=date(today.year + 1, 1, 1))

    def inactive_anonymized(self):
        return self.inactive().filter(status_reason=DataConsent.Reason.ANONYMIZED)

    def inactive_cancelled(self):
        return self.inactive().filter(status_reason=DataConsent.Reason.CANCELLED)

    def inactive_expired(self):
        return self.inactive().filter(status_reason=DataConsent.Reason.EXPIRED)

    def due_for_expiry(self, *, today: date):
        return self.active().filter(valid_until__lt=today)

    def visible_to(self, user):
        """Confidential consents only for their owner, the owner team and the DPO permission."""
        if user.has_perm("consent.view_confidential_dataconsent"):
            return self
        if not user.is_authenticated:
            return self.filter(confidential=False)
        return self.filter(
            Q(confidential=False) | Q(owner_user=user) | Q(owner_team__in=user.groups.all())
        )

    def for_subject(self, subject):
        return self.filter(**{subject.subject_type: subject})


class DataConsent(models.Model):
    class State(models.TextChoices):
        ACTIVE = "active", "Active"
        INACTIVE = "inactive", "Inactive"

    class Reason(models.TextChoices):
        ACTIVE = "active", "Active"
        CANCELLED = "cancelled", "Cancelled"
        EXPIRED = "expired", "Expired"
        ANONYMIZED = "anonymized", "Anonymized"

    lead = models.ForeignKey(
        "subjects.Lead",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="data_consents",
    )
    contact = models.ForeignKey(
        "subjects.Contact",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="data_consents",
    )
    policy = models.ForeignKey(DataPolicy, on_delete=models.PROTECT, related_name="consents")
    consent_level = models.PositiveSmallIntegerField(choices=ConsentLevel.choices, editable=False)
    substatus = models.ForeignKey(
        ConsentLevelSubstatus, null=True, blank=True, on_delete=models.PROTECT
    )
    given_at = models.DateTimeField(default=timezone.now)
    valid_until = models.DateField(null=True, blank=True)
    state = models.CharField(
        max_length=8, choices=State.choices, default=State.ACTIVE, editable=False
    )
    status_reason = models.CharField(
        max_length=10, choices=Reason.choices, default=Reason.ACTIVE, editable=False
    )
    confidential = models.BooleanField(default=False)
    owner_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="owned_data_consents",
    )
    owner_team = models.ForeignKey(
        Group, null=True, blank=True, on_delete=models.PROTECT, related_name="owned_data_consents"
    )
    source = models.CharField(max_length=32, choices=Source.choices, default=Source.INTERNAL)
    note = models.TextField(blank=True)
    captured_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="captured_data_consents",
        editable=False,
    )
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.TextField(blank=True)
    notice_version = models.CharField(max_length=50, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = DataConsentQuerySet.as_manager()
    history = audited_history(excluded_fields=["updated_at"])

    class Meta:
        ordering = ["-given_at", "-id"]
        permissions = [
            ("view_confidential_dataconsent", "Can view confidential data consents"),
            ("cancel_dataconsent", "Can cancel and reactivate data consents"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(lead__isnull=False) | Q(contact__isnull=False),
                name="dataconsent_has_subject",
            ),
            models.CheckConstraint(
                condition=Q(state="active", status_reason="active")
                | Q(state="inactive", status_reason__in=["cancelled", "expired", "anonymized"]),
                name="dataconsent_state_reason_consistent",
            ),
            models.CheckConstraint(
                condition=Q(confidential=False)
                | Q(owner_user__isnull=False)
                | Q(owner_team__isnull=False),
                name="dataconsent_confidential_has_owner",
            ),
            models.CheckConstraint(
                condition=Q(consent_level__gte=0, consent_level__lte=5),
                name="dataconsent_consent_level_range",
            ),
        ]
        indexes = [
            # Subject summary recompute and "missing consent" anti-joins (active consents only).
            models.Index(
                fields=["contact"], name="dc_active_contact_idx", condition=Q(state="active")
            ),
            models.Index(fields=["lead"], name="dc_active_lead_idx", condition=Q(state="active")),
            # Expiry sweep and the "Expiring Data Consents" views.
            models.Index(
                fields=["valid_until"],
                name="dc_active_valid_until_idx",
                condition=Q(state="active"),
            ),
            # The list order (-given_at, -id): "All Data Consents" and, scanned with the state
            # filter, "Active Data Consents" read the first page without sorting 2M rows.
            models.Index(fields=["given_at", "id"], name="dc_given_at_idx"),
            # "Inactive Data Consents" in list order.
            models.Index(
                fields=["given_at", "id"],
                name="dc_inactive_given_at_idx",
                condition=Q(state="inactive"),
            ),
            # "Inactive Data Consents <reason>" views, in list order.
            models.Index(
                fields=["status_reason", "given_at", "id"],
                name="dc_inactive_reason_idx",
                condition=Q(state="inactive"),
            ),
        ]

    def __str__(self):
        return f"{self.policy} ({self.get_consent_level_display()}, {self.get_state_display()})"

    @property
    def is_active(self) -> bool:
        return self.state == self.State.ACTIVE

    @property
    def subjects(self) -> list:
        return [s for s in (self.lead, self.contact) if s is not None]


class ErasureRecord(models.Model):
    """PII-free proof that a subject was anonymized (who, when, what was removed)."""

    subject_type = models.CharField(max_length=10)
    subject_id = models.BigIntegerField()
    erased_at = models.DateTimeField(default=timezone.now)
    erased_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    counts = models.JSONField(default=dict)

    class Meta:
        ordering = ["-erased_at"]

    def __str__(self):
        return f"{self.subject_type} #{self.subject_id} erased {self.erased_at:%Y-%m-%d}"
