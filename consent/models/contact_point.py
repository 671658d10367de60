"""Contact-point consent (DESIGN §3.3): consent keyed by the address, not by the person.

A compliance profile groups purposes (commercial / transactional / tracking), a purpose groups
topics, and a ContactPointConsent records the status of one address for one purpose or topic.
Suppressions hold only a keyed hash of an address whose owner was erased after opting out.
"""

from django.conf import settings
from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone, translation

from common.audit import Source, audited_history, base_language
from consent.models.data_consent import DataPolicy, ReportTexts
from subjects.models import ConsentLevel


class Channel(models.TextChoices):
    EMAIL = "email", "Email"
    SMS = "sms", "SMS"
    VOICE = "voice", "Voice"
    CUSTOM = "custom", "Custom"


# Commercial messages on these channels need an opt-in whatever the purpose's consent model.
OPT_IN_CHANNELS = frozenset({Channel.SMS, Channel.VOICE, Channel.CUSTOM})
ADDRESS_MAX_LENGTH = 254


class BaseTextsModel(models.Model):
    """A model with customer-facing texts in every page language (consent/translation.py).

    django-modeltranslation makes `name` read and write the active language's column; the base
    column itself is saved from whatever `name` reads. Saving under the base language keeps it
    (and every history row, see common.audit) the English text, whoever saves in what language.
    """

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        with translation.override(base_language()):
            super().save(*args, **kwargs)


class ComplianceProfileQuerySet(models.QuerySet):
    def default(self) -> "ComplianceProfile":
        return self.get(is_default=True)


class ComplianceProfile(ReportTexts, BaseTextsModel):
    class DoubleOptIn(models.TextChoices):
        OFF = "off", "Off"
        NEW_ONLY = "new_only", "Only for addresses new to the profile"
        ALWAYS = "always", "Always"

    class UnsubscribeScope(models.TextChoices):
        TOPIC = "topic", "The message's topic"
        PURPOSE = "purpose", "The message's purpose"
        ALL_COMMERCIAL = "all_commercial", "Every commercial purpose"

    name = models.CharField(max_length=200)
    organization_name = models.CharField(
        max_length=200, blank=True, help_text="The organisation the public pages speak for."
    )
    slug = models.SlugField(max_length=50, unique=True)
    is_default = models.BooleanField(default=False)
    check_subject_consent = models.BooleanField(
        default=True,
        help_text="Also require the data subjects holding the address to pass the consent gate.",
    )
    double_opt_in = models.CharField(
        max_length=8, choices=DoubleOptIn.choices, default=DoubleOptIn.OFF
    )
    unsubscribe_scope = models.CharField(
        max_length=14, choices=UnsubscribeScope.choices, default=UnsubscribeScope.TOPIC
    )
    intro_text = models.TextField(blank=True, help_text="Shown above the preference center.")
    footer_text = models.TextField(blank=True, help_text="Shown below the preference center.")
    notice_url = models.URLField(blank=True)
    notice_version = models.CharField(max_length=50, blank=True)
    sender_name = models.CharField(max_length=200, blank=True)
    data_policy = models.ForeignKey(
        DataPolicy,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="compliance_profiles",
        help_text="The data policy a customer's own opt-in is recorded under.",
    )

    objects = ComplianceProfileQuerySet.as_manager()
    history = audited_history()

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            # At most one default at the database level; the data migration creates it.
            models.UniqueConstraint(
                fields=["is_default"],
                condition=Q(is_default=True),
                name="complianceprofile_one_default",
            ),
            models.CheckConstraint(
                condition=Q(double_opt_in__in=["off", "new_only", "always"]),
                name="complianceprofile_doi_valid",
            ),
            models.CheckConstraint(
                condition=Q(unsubscribe_scope__in=["topic", "purpose", "all_commercial"]),
                name="complianceprofile_scope_valid",
            ),
        ]

    def __str__(self):
        return self.name


class Purpose(BaseTextsModel):
    class Kind(models.TextChoices):
        COMMERCIAL = "commercial", "Commercial"
        TRANSACTIONAL = "transactional", "Transactional"
        TRACKING = "tracking", "Tracking"

    class ConsentModel(models.TextChoices):
        RESTRICTIVE = "restrictive", "Restrictive (opt-in required)"
        NON_RESTRICTIVE = "non_restrictive", "Non-restrictive (opt-out)"
        DISABLED = "disabled", "Disabled (no check)"

    profile = models.ForeignKey(
        ComplianceProfile, on_delete=models.CASCADE, related_name="purposes"
    )
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True, help_text="Shown to customers on the public pages.")
    kind = models.CharField(max_length=13, choices=Kind.choices)
    consent_model = models.CharField(
        max_length=15, choices=ConsentModel.choices, default=ConsentModel.RESTRICTIVE
    )
    required_level = models.PositiveSmallIntegerField(
        choices=ConsentLevel.choices, default=ConsentLevel.NONE, validators=[MaxValueValidator(5)]
    )
    require_current_notice = models.BooleanField(
        default=False,
        help_text="Opt-ins given under a notice older than the profile's latest material notice "
        "no longer count (rule 10a, notice_outdated).",
    )

    history = audited_history()

    class Meta:
        ordering = ["profile_id", "name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["profile", "name"], name="purpose_profile_name_uniq"),
            models.CheckConstraint(
                condition=Q(kind__in=["commercial", "transactional", "tracking"]),
                name="purpose_kind_valid",
            ),
            models.CheckConstraint(
                condition=Q(consent_model__in=["restrictive", "non_restrictive", "disabled"]),
                name="purpose_consent_model_valid",
            ),
            models.CheckConstraint(
                condition=Q(required_level__gte=0, required_level__lte=5),
                name="purpose_required_level_range",
            ),
        ]

    def __str__(self):
        return f"{self.profile} – {self.name}" if self.profile_id else self.name

    def requires_opt_in(self, channel: str) -> bool:
        """DESIGN §3.4 rule 9: restrictive purposes, and commercial ones off the email channel."""
        if self.consent_model == self.ConsentModel.RESTRICTIVE:
            return True
        return self.kind == self.Kind.COMMERCIAL and channel in OPT_IN_CHANNELS


class Topic(BaseTextsModel):
    purpose = models.ForeignKey(Purpose, on_delete=models.CASCADE, related_name="topics")
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    active = models.BooleanField(default=True)

    history = audited_history()

    class Meta:
        ordering = ["purpose_id", "name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["purpose", "name"], name="topic_purpose_name_uniq"),
        ]

    def __str__(self):
        return self.name


class ContactPointConsentQuerySet(models.QuerySet):
    def for_address(self, channel: str, value: str):
        """`value` must already be normalized (see consent.addresses.normalize_address)."""
        return self.filter(channel=channel, value=value)

    def due_for_expiry(self, *, now):
        return self.filter(status=ContactPointConsent.Status.OPTED_IN, expires_at__lte=now)

    def outdated(self, profile, *, purpose=None):
        """Opt-ins of `profile` given under a notice older than its latest material notice
        (DESIGN §3.9 re-consent): none while the profile has no published material notice."""
        from consent.models.notices import Notice

        current = Notice.objects.current_versions(profile_ids=[profile.pk]).get(
            ("profile", profile.pk)
        )
        if current is None:
            return self.none()
        outdated = self.filter(
            purpose__profile=profile, status=ContactPointConsent.Status.OPTED_IN
        ).exclude(notice_version__in=current)
        return outdated.filter(purpose=purpose) if purpose is not None else outdated


class ContactPointConsent(models.Model):
    Channel = Channel

    class Status(models.TextChoices):
        OPTED_IN = "opted_in", "Opted in"
        OPTED_OUT = "opted_out", "Opted out"
        NOT_SET = "not_set", "Not set"

    channel = models.CharField(max_length=6, choices=Channel.choices)
    value = models.CharField(
        max_length=ADDRESS_MAX_LENGTH, help_text="Normalized address (lower-cased email, E.164)."
    )
    purpose = models.ForeignKey(
        Purpose, on_delete=models.PROTECT, related_name="contact_point_consents"
    )
    topic = models.ForeignKey(
        Topic,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="contact_point_consents",
        help_text="Empty for the purpose-level record.",
        db_index=False,  # cpc_topic_idx: partial, most records have no topic
    )
    status = models.CharField(max_length=9, choices=Status.choices, default=Status.NOT_SET)
    source = models.CharField(max_length=32, choices=Source.choices, default=Source.INTERNAL)
    reason = models.CharField(max_length=200, blank=True)
    reason_description = models.TextField(blank=True)
    requested_by = models.CharField(
        max_length=200, blank=True, help_text="Who asked, e.g. “customer by phone”."
    )
    captured_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="captured_contact_point_consents",
        editable=False,
        db_index=False,  # cpc_captured_by_idx: partial, loaded records have no capturing user
    )
    captured_at = models.DateTimeField(default=timezone.now)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.TextField(blank=True)
    notice_version = models.CharField(max_length=50, blank=True)
    expires_at = models.DateTimeField(
        null=True, blank=True, help_text="An opt-in past this moment counts as not set."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ContactPointConsentQuerySet.as_manager()
    history = audited_history(
        excluded_fields=["updated_at"],
        # Timeline, access report and erasure read an address's history, never by record id;
        # the decision as of a past instant reads its rows up to an instant (history_date).
        indexes=[
            models.Index(
                fields=["channel", "value", "history_date"], name="cpc_history_address_idx"
            )
        ],
        # A consent load writes a million history rows at once (DESIGN §7): no foreign key and
        # no index for columns nothing looks history up by — every one costs an index entry
        # (or a deferred check) per row. Deleting a user still nulls its history_user (Django
        # does it, by a scan of this table: rare and admin-only).
        user_db_constraint=False,
        user_db_index=False,
        no_db_index=["purpose", "topic", "captured_by"],
    )

    class Meta:
        ordering = ["channel", "value", "purpose_id", "topic_id", "id"]
        permissions = [("check_consent", "Can run consent checks")]
        constraints = [
            # One record per (channel, value, purpose, topic). NULL topics never collide in a
            # plain unique index (SQLite and PostgreSQL alike), hence two partial constraints.
            models.UniqueConstraint(
                fields=["channel", "value", "purpose"],
                condition=Q(topic__isnull=True),
                name="cpc_purpose_record_uniq",
            ),
            models.UniqueConstraint(
                fields=["channel", "value", "purpose", "topic"],
                condition=Q(topic__isnull=False),
                name="cpc_topic_record_uniq",
            ),
            models.CheckConstraint(
                condition=Q(channel__in=Channel.values), name="cpc_channel_valid"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["opted_in", "opted_out", "not_set"]),
                name="cpc_status_valid",
            ),
            models.CheckConstraint(condition=Q(source__in=Source.values), name="cpc_source_valid"),
            models.CheckConstraint(condition=~Q(value=""), name="cpc_value_not_empty"),
        ]
        indexes = [
            # Decision engine, timeline and erasure: every record of a set of addresses.
            models.Index(fields=["channel", "value"], name="cpc_address_idx"),
            # Topic and user lookups (deleting a topic or a user, the topic filter): partial, so
            # the many records without a topic or capturing user (a consent load writes a
            # million at once) cost no index entry. `topic_id = x` implies the condition.
            models.Index(fields=["topic"], name="cpc_topic_idx", condition=Q(topic__isnull=False)),
            models.Index(
                fields=["captured_by"],
                name="cpc_captured_by_idx",
                condition=Q(captured_by__isnull=False),
            ),
            # Daily expiry sweep: opt-ins whose expires_at has passed.
            models.Index(
                fields=["expires_at"],
                name="cpc_optin_expiry_idx",
                condition=Q(status="opted_in", expires_at__isnull=False),
            ),
        ]

    def __str__(self):
        scope = f"{self.purpose.name} / {self.topic.name}" if self.topic_id else self.purpose.name
        return f"{self.channel} {self.value} – {scope}: {self.get_status_display()}"


class Suppression(models.Model):
    """An erased address that must never be opted in again: only a keyed hash is stored."""

    Channel = Channel

    # The reason an erasure gives (DESIGN §3.1): the decision as of a past instant reads it.
    ERASURE_REASON = "owner erased after opting out"

    channel = models.CharField(max_length=6, choices=Channel.choices)
    value_hash = models.CharField(
        max_length=64, help_text="HMAC-SHA256 (hex) of the normalized address."
    )
    created_at = models.DateTimeField(default=timezone.now)
    reason = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )

    # The history keeps a PII-free record of every suppression and every explicit un-suppress.
    history = audited_history(
        # The decision as of a past instant: an address's suppressions over time.
        indexes=[
            models.Index(fields=["channel", "value_hash"], name="suppression_history_hash_idx")
        ]
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("unsuppress", "Can remove a suppression (allow opt-in again)")]
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "value_hash"], name="suppression_channel_hash_uniq"
            ),
            models.CheckConstraint(
                condition=Q(channel__in=Channel.values), name="suppression_channel_valid"
            ),
        ]

    def __str__(self):
        return f"{self.channel} suppression {self.value_hash[:12]}…"
