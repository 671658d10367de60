from django.db import models
from django.db.models import Exists, OuterRef, Q

from common.audit import audited_history
from subjects.models import Account, Contact, Lead


class MarketingListQuerySet(models.QuerySet):
    VIEWS = {
        "all": ("Data Protection All Marketing Lists", "all_active"),
        "static_accounts_not_processing": (
            "Data Protection Static Lists including Accounts not Processing Data",
            "static_accounts_not_processing",
        ),
        "static_contacts_without_consent": (
            "Data Protection Static Lists including Contacts without Consent",
            "static_contacts_without_consent",
        ),
        "static_leads_without_consent": (
            "Data Protection Static Lists including Leads without Consent",
            "static_leads_without_consent",
        ),
    }

    def for_view(self, code: str):
        return getattr(self, self.VIEWS[code][1])()

    def all_active(self):
        return self.filter(active=True)

    def static(self):
        return self.filter(list_type=MarketingList.ListType.STATIC)

    def _static_with_member(self, **member_filter):
        members = MarketingListMember.objects.filter(list=OuterRef("pk"), **member_filter)
        return self.static().filter(Exists(members))

    def static_accounts_not_processing(self):
        return self._static_with_member(account__processes_data=False)

    def static_contacts_without_consent(self):
        return self._static_with_member(contact__in=Contact.objects.missing_consent())

    def static_leads_without_consent(self):
        return self._static_with_member(lead__in=Lead.objects.missing_consent())


class MarketingList(models.Model):
    class ListType(models.TextChoices):
        STATIC = "static", "Static"
        DYNAMIC = "dynamic", "Dynamic"

    class MemberType(models.TextChoices):
        ACCOUNT = "account", "Account"
        CONTACT = "contact", "Contact"
        LEAD = "lead", "Lead"

    name = models.CharField(max_length=200)
    list_type = models.CharField(max_length=8, choices=ListType.choices, default=ListType.STATIC)
    member_type = models.CharField(
        max_length=8, choices=MemberType.choices, default=MemberType.CONTACT
    )
    query = models.TextField(
        blank=True,
        help_text="Dynamic lists: a filter query string over the member type's filters, "
        "e.g. account=3&allow_bulk_email=true.",
    )
    purpose = models.ForeignKey(
        "consent.Purpose",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="marketing_lists",
        help_text="Makes this a subscription list.",
    )
    topic = models.ForeignKey(
        "consent.Topic",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="marketing_lists",
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = MarketingListQuerySet.as_manager()
    history = audited_history(excluded_fields=["updated_at"])

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(list_type__in=["static", "dynamic"]), name="mlist_list_type_valid"
            ),
            models.CheckConstraint(
                condition=Q(member_type__in=["account", "contact", "lead"]),
                name="mlist_member_type_valid",
            ),
            models.CheckConstraint(
                condition=Q(topic__isnull=True) | Q(purpose__isnull=False),
                name="mlist_topic_needs_purpose",
            ),
        ]

    def __str__(self):
        return self.name

    @property
    def member_model(self) -> type[models.Model]:
        return {"account": Account, "contact": Contact, "lead": Lead}[self.member_type]

    @property
    def is_static(self) -> bool:
        return self.list_type == self.ListType.STATIC


class MarketingListMember(models.Model):
    """A static list's member: exactly one of account / contact / lead, as the list's type."""

    list = models.ForeignKey(MarketingList, on_delete=models.CASCADE, related_name="members")
    account = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.CASCADE, related_name="list_memberships"
    )
    contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.CASCADE, related_name="list_memberships"
    )
    lead = models.ForeignKey(
        Lead, null=True, blank=True, on_delete=models.CASCADE, related_name="list_memberships"
    )
    added_at = models.DateTimeField(auto_now_add=True)

    history = audited_history()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(account__isnull=False, contact__isnull=True, lead__isnull=True)
                    | Q(account__isnull=True, contact__isnull=False, lead__isnull=True)
                    | Q(account__isnull=True, contact__isnull=True, lead__isnull=False)
                ),
                name="mlmember_exactly_one_subject",
            ),
            models.UniqueConstraint(
                fields=["list", "account"],
                name="mlmember_account_uniq",
                condition=Q(account__isnull=False),
            ),
            models.UniqueConstraint(
                fields=["list", "contact"],
                name="mlmember_contact_uniq",
                condition=Q(contact__isnull=False),
            ),
            models.UniqueConstraint(
                fields=["list", "lead"], name="mlmember_lead_uniq", condition=Q(lead__isnull=False)
            ),
        ]
        indexes = [
            # "Lists a subject belongs to" (subject page, anonymization, migration load).
            models.Index(fields=["contact"], name="mlmember_contact_idx"),
            models.Index(fields=["lead"], name="mlmember_lead_idx"),
            models.Index(fields=["account"], name="mlmember_account_idx"),
        ]

    def __str__(self):
        return f"{self.list} ← {self.account or self.contact or self.lead}"

    @property
    def subject_id(self) -> int:
        return self.account_id or self.contact_id or self.lead_id
