from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Exists, OuterRef, Q
from django.db.models.functions import Lower

from common.audit import audited_history
from subjects.normalize import normalize_phone

ANONYMIZED_NAME = "Anonymized"


class ConsentLevel(models.IntegerChoices):
    """Consent levels 0–5 (labels are part of the public contract)."""

    NONE = 0, "(0) None"
    CONSENT = 1, "(1) Consent"
    TRANSACTIONAL = 2, "(2) Transactional"
    SUBSCRIPTION = 3, "(3) Subscription"
    MARKETING = 4, "(4) Marketing"
    PROFILING = 5, "(5) Profiling"


class DataProtectionConsent(models.TextChoices):
    NONE = "none", "None"
    EXPLICIT = "explicit", "Explicit"
    INHERENT = "inherent", "Inherent"
    RESTRICT = "restrict", "Restrict"


PREFERENCE_FIELDS = (
    "allow_email",
    "allow_bulk_email",
    "allow_phone",
    "allow_sms",
    "allow_postal_mail",
    "allow_tracking",
)
PII_FIELDS = ("first_name", "last_name", "email", "phone")
DERIVED_FIELDS = ("consent_level", "max_expiry_date", "data_protection_consent")


class Account(models.Model):
    name = models.CharField(max_length=200)
    processes_data = models.BooleanField(
        default=True, help_text="False for accounts whose data the organisation does not process."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = audited_history()

    class Meta:
        ordering = ["name", "id"]
        indexes = [
            # "Accounts not Processing Data" list view.
            models.Index(
                fields=["id"], name="account_not_processing_idx", condition=Q(processes_data=False)
            ),
        ]

    def __str__(self):
        return self.name


class SubjectQuerySet(models.QuerySet):
    """Read-side views shared by leads and contacts (admin filter, API `view=`, dashboard)."""

    def anonymized(self):
        return self.filter(anonymized_at__isnull=False)

    def not_anonymized(self):
        return self.filter(anonymized_at__isnull=True)

    def with_email(self, value: str):
        return self.with_email_key(value.lower())

    def with_email_key(self, key: str):
        """`with_email` for a key already lower-cased (a normalized address): nothing is done
        to it in Python, so the consent check's query is prepared once (common.prepared)."""
        return self.alias(email_lower=Lower("email")).filter(email_lower=key)

    def with_phone(self, value: str):
        return self.filter(phone=value)

    def search(self, term: str):
        """The admin's search box: an exact e-mail address or phone number, else the start of
        a first or last name. Each form is served by an index, so a search is bounded at a
        million subjects (no substring scan)."""
        term = term.strip()
        if not term:
            return self
        if "@" in term:
            return self.with_email(term)
        if term.lstrip("+").replace(" ", "").replace("-", "").isdigit():
            try:
                return self.with_phone(normalize_phone(term))
            except ValidationError:
                return self.none()
        return self.filter(Q(last_name__istartswith=term) | Q(first_name__istartswith=term))

    def _active_consent_exists(self):
        # The consent app owns DataConsent; the reverse relation names it without an import.
        data_consent = self.model._meta.get_field("data_consents").related_model
        relation = self.model._meta.get_field("data_consents").field.name
        return Exists(data_consent.objects.filter(**{relation: OuterRef("pk")}, state="active"))

    def missing_consent(self):
        return self.active().filter(~self._active_consent_exists())

    def for_view(self, code: str):
        return getattr(self, self.VIEWS[code][1])()


class Subject(models.Model):
    """Fields and rules common to leads and contacts (abstract)."""

    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100)
    # NULL, not "": "no address" must never match another subject's missing address.
    email = models.EmailField(max_length=254, null=True, blank=True)  # noqa: DJ001
    phone = models.CharField(max_length=32, null=True, blank=True, help_text="E.164")  # noqa: DJ001

    allow_email = models.BooleanField(default=True)
    allow_bulk_email = models.BooleanField(default=True)
    allow_phone = models.BooleanField(default=True)
    allow_sms = models.BooleanField(default=True)
    allow_postal_mail = models.BooleanField(default=True)
    allow_tracking = models.BooleanField(default=True)

    restricted = models.BooleanField(
        default=False, help_text="Processing restricted (GDPR Art. 18)."
    )
    inherent_basis = models.BooleanField(
        default=False,
        help_text="A lawful basis other than consent applies (e.g. legal obligation).",
    )
    inherent_basis_note = models.TextField(blank=True)

    consent_level = models.PositiveSmallIntegerField(
        choices=ConsentLevel.choices, default=ConsentLevel.NONE, editable=False
    )
    max_expiry_date = models.DateField(null=True, blank=True, editable=False)
    data_protection_consent = models.CharField(
        "Data Protection Consent",
        max_length=10,
        choices=DataProtectionConsent.choices,
        default=DataProtectionConsent.NONE,
        editable=False,
    )
    anonymized_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True

    def __str__(self):
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def is_anonymized(self) -> bool:
        return self.anonymized_at is not None

    @property
    def subject_type(self) -> str:
        return self._meta.model_name


class LeadQuerySet(SubjectQuerySet):
    VIEWS = {
        "active": ("Data Protection Active Leads", "active"),
        "all": ("Data Protection All Leads", "all"),
        "anonymized": ("Data Protection Anonymized Leads", "anonymized"),
        "disqualified": ("Data Protection Disqualified Leads", "disqualified"),
        "missing_consent": ("Data Protection Leads Missing Consent", "missing_consent"),
        "qualified": ("Data Protection Qualified Leads", "qualified"),
    }

    ACTIVE = Q(status="open")

    def active(self):
        return self.not_anonymized().filter(self.ACTIVE)

    def qualified(self):
        return self.filter(status=Lead.Status.QUALIFIED)

    def disqualified(self):
        return self.filter(status=Lead.Status.DISQUALIFIED)


class Lead(Subject):
    class Status(models.TextChoices):
        OPEN = "open", "Open"
        QUALIFIED = "qualified", "Qualified"
        DISQUALIFIED = "disqualified", "Disqualified"

    company_name = models.CharField(max_length=200, blank=True)
    status = models.CharField(
        max_length=12, choices=Status.choices, default=Status.OPEN, editable=False
    )
    source = models.CharField(max_length=32, blank=True, help_text="How the lead was captured.")
    converted_contact = models.ForeignKey(
        "subjects.Contact",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="source_leads",
        editable=False,
    )

    objects = LeadQuerySet.as_manager()
    history = audited_history(
        excluded_fields=["updated_at"],
        # The consent decision as of a past instant: the subjects whose history held an
        # address (anonymization scrubs it, so an erased person matches nothing).
        indexes=[
            models.Index(
                Lower("email"), name="lead_history_email_idx", condition=Q(email__isnull=False)
            ),
            models.Index(
                fields=["phone"], name="lead_history_phone_idx", condition=Q(phone__isnull=False)
            ),
        ],
    )

    class Meta:
        ordering = ["-id"]
        permissions = [
            ("anonymize_lead", "Can anonymize leads"),
            # DESIGN §3.1: `restricted` (Art. 18) and the inherent basis are manual DPO fields.
            ("restrict_lead", "Can restrict leads and set their inherent basis"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["open", "qualified", "disqualified"]),
                name="lead_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(consent_level__gte=0, consent_level__lte=5),
                name="lead_consent_level_range",
            ),
        ]
        indexes = [
            # Decision engine and dedup: subjects sharing an email (case-insensitive).
            models.Index(Lower("email"), name="lead_email_lower_idx"),
            # Decision engine: subjects sharing a phone number.
            models.Index(fields=["phone"], name="lead_phone_idx"),
            # "Active leads" / "Leads missing consent" views.
            models.Index(
                fields=["id"],
                name="lead_active_idx",
                condition=Q(status="open", anonymized_at__isnull=True),
            ),
            # "Qualified / disqualified leads" filters in list order.
            models.Index(fields=["status", "id"], name="lead_status_idx"),
            # "Anonymized leads" view: a few rows among a million, in list order.
            models.Index(
                fields=["id"], name="lead_anonymized_idx", condition=Q(anonymized_at__isnull=False)
            ),
        ]

    @property
    def is_read_only(self) -> bool:
        return self.is_anonymized or self.status != self.Status.OPEN


class ContactQuerySet(SubjectQuerySet):
    VIEWS = {
        "active": ("Data Protection Active Contacts", "active"),
        "all": ("Data Protection All Contacts", "all"),
        "anonymized": ("Data Protection Anonymized Contacts", "anonymized"),
        "missing_consent": ("Data Protection Contacts Missing Consent", "missing_consent"),
        "inactive": ("Data Protection Inactive Contacts", "inactive"),
    }

    ACTIVE = Q(state="active")

    def active(self):
        return self.not_anonymized().filter(self.ACTIVE)

    def inactive(self):
        return self.not_anonymized().filter(state=Contact.State.INACTIVE)


class Contact(Subject):
    class State(models.TextChoices):
        ACTIVE = "active", "Active"
        INACTIVE = "inactive", "Inactive"

    account = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.PROTECT, related_name="contacts"
    )
    state = models.CharField(
        max_length=8, choices=State.choices, default=State.ACTIVE, editable=False
    )

    objects = ContactQuerySet.as_manager()
    history = audited_history(
        excluded_fields=["updated_at"],
        # The consent decision as of a past instant: the subjects whose history held an
        # address (anonymization scrubs it, so an erased person matches nothing).
        indexes=[
            models.Index(
                Lower("email"), name="contact_history_email_idx", condition=Q(email__isnull=False)
            ),
            models.Index(
                fields=["phone"], name="contact_history_phone_idx", condition=Q(phone__isnull=False)
            ),
        ],
    )

    class Meta:
        ordering = ["-id"]
        permissions = [
            ("anonymize_contact", "Can anonymize contacts"),
            # DESIGN §3.1: `restricted` (Art. 18) and the inherent basis are manual DPO fields.
            ("restrict_contact", "Can restrict contacts and set their inherent basis"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(state__in=["active", "inactive"]), name="contact_state_valid"
            ),
            models.CheckConstraint(
                condition=Q(consent_level__gte=0, consent_level__lte=5),
                name="contact_consent_level_range",
            ),
        ]
        indexes = [
            # Decision engine and dedup: subjects sharing an email (case-insensitive).
            models.Index(Lower("email"), name="contact_email_lower_idx"),
            # Decision engine: subjects sharing a phone number.
            models.Index(fields=["phone"], name="contact_phone_idx"),
            # "Active contacts" / "Contacts missing consent" views.
            models.Index(
                fields=["id"],
                name="contact_active_idx",
                condition=Q(state="active", anonymized_at__isnull=True),
            ),
            # "Inactive contacts" and "Anonymized contacts" views: rare rows, in list order.
            models.Index(
                fields=["id"],
                name="contact_inactive_idx",
                condition=Q(state="inactive", anonymized_at__isnull=True),
            ),
            models.Index(
                fields=["id"],
                name="contact_anonymized_idx",
                condition=Q(anonymized_at__isnull=False),
            ),
        ]

    @property
    def is_read_only(self) -> bool:
        return self.is_anonymized or self.state != self.State.ACTIVE
