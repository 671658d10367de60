"""REST API for leads, contacts, data policies and data consents (DESIGN.md §4).

Serializers validate the shape of the input; every write is one call to a service of
`subjects.services` or `consent.services`, so the API enforces the same rules as the admin.
Errors: see common.api (400 per field, 409 when the object's state forbids the change).
"""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from common.api import IdRelatedField, ModelSerializer
from consent import services
from consent.filters import DataConsentFilterSet, DataPolicyFilterSet
from consent.models import DataConsent, DataPolicy, ErasureRecord
from consent.models.data_consent import MAX_VALIDITY_DAYS
from consent.timeline import subject_access_report, subject_timeline
from subjects import services as subject_services
from subjects.audit import Source
from subjects.filters import ContactFilterSet, LeadFilterSet
from subjects.models import DERIVED_FIELDS, PREFERENCE_FIELDS, Contact, Lead
from subjects.services import SubjectReadOnlyError, subject_create

CHANGE = "%(app_label)s.change_%(model_name)s"
# Service errors that mean "not in the current state of the object" answer 409, not 400.
STATE_CONFLICT_CODES = frozenset({"invalid_state", "expired", "anonymized"})


def _user(serializer):
    return serializer.context["request"].user


# ---------------------------------------------------------------------------------------------
# Leads and contacts


SUBJECT_FIELDS = [
    "id",
    "first_name",
    "last_name",
    "email",
    "phone",
    *PREFERENCE_FIELDS,
    "restricted",
    "inherent_basis",
    "inherent_basis_note",
    *DERIVED_FIELDS,
    "anonymized_at",
    "created_at",
    "updated_at",
]


class SubjectSerializer(ModelSerializer):
    """Create through `subject_create`, update through `subject_update` (only the given keys:
    a PATCH changes what it names). Derived fields and the lifecycle state are read-only."""

    def create(self, validated_data):
        return subject_create(
            model=self.Meta.model, data=validated_data, user=_user(self), source=Source.API
        )

    def update(self, instance, validated_data):
        return services.subject_update(
            subject=instance, data=validated_data, user=_user(self), source=Source.API
        )


class LeadSerializer(SubjectSerializer):
    class Meta:
        model = Lead
        fields = [*SUBJECT_FIELDS, "company_name", "source", "status", "converted_contact"]


class ContactSerializer(SubjectSerializer):
    account_name = serializers.CharField(source="account.name", read_only=True, allow_null=True)

    class Meta:
        model = Contact
        fields = [*SUBJECT_FIELDS, "account", "account_name", "state"]


class QualifySerializer(serializers.Serializer):
    convert = serializers.BooleanField(
        default=False,
        help_text="Also create a contact from the lead and link its active data consents to it.",
    )


class QualifyResultSerializer(serializers.Serializer):
    contact = serializers.IntegerField(
        allow_null=True, help_text="Id of the contact created by the conversion, or null."
    )


class ErasureRecordSerializer(serializers.ModelSerializer):
    class Meta:
        model = ErasureRecord
        fields = ["id", "subject_type", "subject_id", "erased_at", "erased_by", "counts"]


class ChangeSerializer(serializers.Serializer):
    field = serializers.CharField()
    old = serializers.JSONField(allow_null=True)
    new = serializers.JSONField(allow_null=True)


class TimelineEntrySerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    object_type = serializers.CharField()
    object_id = serializers.IntegerField()
    object_label = serializers.CharField()
    action = serializers.CharField()
    changes = ChangeSerializer(many=True)
    source = serializers.CharField(allow_blank=True)
    reason = serializers.CharField(allow_blank=True)
    by = serializers.CharField(allow_null=True)


class AccessReportSerializer(serializers.Serializer):
    subject_type = serializers.CharField()
    subject = serializers.DictField()
    data_consents = serializers.ListField(child=serializers.DictField())
    contact_point_consents = serializers.ListField(child=serializers.DictField())
    timeline = TimelineEntrySerializer(many=True)


class SubjectViewSet(
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.ListModelMixin,
    viewsets.GenericViewSet,
):
    """Shared by leads and contacts: no DELETE (405) — subjects are anonymized, never deleted."""

    conflict_errors = (SubjectReadOnlyError,)
    conflict_codes = STATE_CONFLICT_CODES

    def lifecycle(self, service):
        """Run one lifecycle service on the subject and answer with its new state."""
        subject = self.get_object()
        subject = service(
            **{subject.subject_type: subject}, user=self.request.user, source=Source.API
        )
        return Response(self.get_serializer(subject).data)

    def anonymize_subject(self):
        record = services.subject_anonymize(
            subject=self.get_object(), user=self.request.user, source=Source.API
        )
        return Response(ErasureRecordSerializer(record).data)

    @extend_schema(request=None, responses=TimelineEntrySerializer(many=True))
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def timeline(self, request, pk=None):
        """GDPR activity timeline of the subject, newest first (confidentiality applied)."""
        entries = subject_timeline(subject=self.get_object(), user=request.user)
        return Response([entry.as_dict() for entry in entries])

    @extend_schema(request=None, responses=AccessReportSerializer)
    @action(detail=True, methods=["get"], url_path="access-report", filter_backends=[])
    def access_report(self, request, pk=None):
        """Everything held about the subject (GDPR Art. 15), the timeline included."""
        return Response(subject_access_report(subject=self.get_object(), user=request.user))


class LeadViewSet(SubjectViewSet):
    """Leads. Qualified and disqualified leads are read-only until reactivated (409)."""

    queryset = Lead.objects.all()
    serializer_class = LeadSerializer
    filterset_class = LeadFilterSet
    action_permissions = {
        "qualify": [CHANGE],
        "disqualify": [CHANGE],
        "reactivate": [CHANGE],
        "anonymize": ["subjects.anonymize_lead"],
    }

    @extend_schema(request=QualifySerializer, responses=QualifyResultSerializer)
    @action(detail=True, methods=["post"])
    def qualify(self, request, pk=None):
        """Qualify an open lead; with `convert`, also create its contact."""
        lead = self.get_object()
        body = QualifySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        contact = services.lead_qualify(
            lead=lead, convert=body.validated_data["convert"], user=request.user, source=Source.API
        )
        return Response({"contact": contact.pk if contact else None})

    @extend_schema(request=None, responses=LeadSerializer)
    @action(detail=True, methods=["post"])
    def disqualify(self, request, pk=None):
        """Disqualify an open lead (it becomes read-only until reactivated)."""
        return self.lifecycle(subject_services.lead_disqualify)

    @extend_schema(request=None, responses=LeadSerializer)
    @action(detail=True, methods=["post"])
    def reactivate(self, request, pk=None):
        """Reopen a qualified or disqualified lead."""
        return self.lifecycle(subject_services.lead_reactivate)

    @extend_schema(request=None, responses=ErasureRecordSerializer)
    @action(detail=True, methods=["post"])
    def anonymize(self, request, pk=None):
        """Irreversibly erase the lead's personal data (GDPR Art. 17)."""
        return self.anonymize_subject()


class ContactViewSet(SubjectViewSet):
    """Contacts. Inactive contacts are read-only until reactivated (409)."""

    queryset = Contact.objects.select_related("account")
    serializer_class = ContactSerializer
    filterset_class = ContactFilterSet
    action_permissions = {
        "deactivate": [CHANGE],
        "reactivate": [CHANGE],
        "anonymize": ["subjects.anonymize_contact"],
    }

    @extend_schema(request=None, responses=ContactSerializer)
    @action(detail=True, methods=["post"])
    def deactivate(self, request, pk=None):
        """Deactivate a contact (read-only; its consents still expire on their date)."""
        return self.lifecycle(subject_services.contact_deactivate)

    @extend_schema(request=None, responses=ContactSerializer)
    @action(detail=True, methods=["post"])
    def reactivate(self, request, pk=None):
        """Reactivate an inactive contact."""
        return self.lifecycle(subject_services.contact_reactivate)

    @extend_schema(request=None, responses=ErasureRecordSerializer)
    @action(detail=True, methods=["post"])
    def anonymize(self, request, pk=None):
        """Irreversibly erase the contact's personal data (GDPR Art. 17)."""
        return self.anonymize_subject()


# ---------------------------------------------------------------------------------------------
# Data policies


class DataPolicySerializer(ModelSerializer):
    class Meta:
        model = DataPolicy
        fields = [
            "id",
            "name",
            "description",
            "consent_level",
            "validity_days",
            "legal_basis",
            "notice_url",
            "notice_version",
            "active",
        ]
        extra_kwargs = {"validity_days": {"max_value": MAX_VALIDITY_DAYS}}

    def create(self, validated_data):
        return self._save(DataPolicy(), validated_data)

    def update(self, instance, validated_data):
        return self._save(instance, validated_data)

    def _save(self, policy, validated_data):
        for name, value in validated_data.items():
            setattr(policy, name, value)
        return services.data_policy_save(policy=policy, user=_user(self), source=Source.API)


@extend_schema_view(
    destroy=extend_schema(
        description="Delete a data policy no data consent uses (409 otherwise; deactivate it "
        "instead). Needs `consent.delete_datapolicy`, which no staff role has by default."
    )
)
class DataPolicyViewSet(viewsets.ModelViewSet):
    """Data policies. A policy's level is copied into each consent at insert, so editing it
    never changes existing consents. A policy in use cannot be deleted (409)."""

    queryset = DataPolicy.objects.all()
    serializer_class = DataPolicySerializer
    filterset_class = DataPolicyFilterSet

    conflict_codes = STATE_CONFLICT_CODES

    def perform_destroy(self, instance):
        services.data_policy_delete(policy=instance, user=self.request.user, source=Source.API)


# ---------------------------------------------------------------------------------------------
# Data consents


def _name(source: str, help_text: str):
    return serializers.CharField(
        source=source, read_only=True, allow_null=True, help_text=help_text
    )


class DataConsentSerializer(ModelSerializer):
    """Create (all evidence fields) and read. `consent_level` is copied from the policy."""

    lead_name = _name("lead", "The lead's name.")
    contact_name = _name("contact", "The contact's name.")
    policy_name = _name("policy.name", "The data policy's name.")
    owner_user_name = _name("owner_user.username", "The owner user's username.")
    owner_team_name = _name("owner_team.name", "The owner team's name.")
    captured_by_name = _name("captured_by.username", "Username of who recorded the consent.")
    owner_user = IdRelatedField(
        queryset=get_user_model().objects.all(), required=False, allow_null=True
    )
    owner_team = IdRelatedField(queryset=Group.objects.all(), required=False, allow_null=True)
    notice_version = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=50,
        help_text="Version of the privacy notice shown; defaults to the policy's.",
    )

    class Meta:
        model = DataConsent
        fields = [
            "id",
            "lead",
            "lead_name",
            "contact",
            "contact_name",
            "policy",
            "policy_name",
            "consent_level",
            "substatus",
            "given_at",
            "valid_until",
            "state",
            "status_reason",
            "confidential",
            "owner_user",
            "owner_user_name",
            "owner_team",
            "owner_team_name",
            "source",
            "note",
            "captured_by",
            "captured_by_name",
            "ip_address",
            "user_agent",
            "notice_version",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["consent_level", "state", "status_reason", "captured_by"]
        extra_kwargs = {
            "source": {"default": Source.API},
            "valid_until": {"help_text": "Defaults to given_at + the policy's validity_days."},
        }

    def create(self, validated_data):
        return services.data_consent_create(**validated_data, user=_user(self))


class DataConsentUpdateSerializer(DataConsentSerializer):
    """Update: only `CONSENT_EDITABLE_FIELDS` are writable; the others are ignored.

    Only the keys sent reach the service, so `{"confidential": true}` alone clears the owner
    (and is refused until an owner is given), while sending an owner along keeps it.
    """

    class Meta(DataConsentSerializer.Meta):
        read_only_fields = [
            name
            for name in DataConsentSerializer.Meta.fields
            if name not in services.CONSENT_EDITABLE_FIELDS
        ]
        extra_kwargs = {}

    def update(self, instance, validated_data):
        return services.data_consent_update(
            consent=instance, data=validated_data, user=_user(self), source=Source.API
        )


class NoteSerializer(serializers.Serializer):
    note = serializers.CharField(
        required=False, allow_blank=True, default="", help_text="Why (kept in the timeline)."
    )


@extend_schema_view(
    update=extend_schema(request=DataConsentUpdateSerializer, responses=DataConsentSerializer),
    partial_update=extend_schema(
        request=DataConsentUpdateSerializer, responses=DataConsentSerializer
    ),
)
class DataConsentViewSet(
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.ListModelMixin,
    viewsets.GenericViewSet,
):
    """Data consents: never deleted (DELETE answers 405); cancel / reactivate instead.

    Confidential consents are visible only to their owner user, the owner team and DPOs
    (`consent.view_confidential_dataconsent`); to anyone else they do not exist (404).
    """

    serializer_class = DataConsentSerializer
    filterset_class = DataConsentFilterSet
    conflict_errors = (SubjectReadOnlyError,)
    conflict_codes = STATE_CONFLICT_CODES
    action_permissions = {
        "cancel": ["consent.cancel_dataconsent"],
        "reactivate": ["consent.cancel_dataconsent"],
    }

    def get_queryset(self):
        return DataConsent.objects.select_related(
            "policy", "lead", "contact", "owner_user", "owner_team", "captured_by"
        ).visible_to(self.request.user)

    def get_serializer_class(self):
        if self.action in ("update", "partial_update"):
            return DataConsentUpdateSerializer
        return DataConsentSerializer

    def _run(self, service):
        consent = self.get_object()
        body = NoteSerializer(data=self.request.data)
        body.is_valid(raise_exception=True)
        consent = service(
            consent=consent,
            user=self.request.user,
            source=Source.API,
            note=body.validated_data["note"],
        )
        return Response(DataConsentSerializer(consent, context=self.get_serializer_context()).data)

    @extend_schema(request=NoteSerializer, responses=DataConsentSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Deactivate an active consent (reason `cancelled`; it can be reactivated)."""
        return self._run(services.data_consent_cancel)

    @extend_schema(request=NoteSerializer, responses=DataConsentSerializer)
    @action(detail=True, methods=["post"])
    def reactivate(self, request, pk=None):
        """Reactivate a cancelled consent whose `valid_until` has not passed."""
        return self._run(services.data_consent_reactivate)
