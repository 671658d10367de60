"""Leads and contacts over the API: CRUD, lifecycle actions, timeline and access report."""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from common.api import ModelSerializer, request_user
from common.audit import Source
from consent.models import ErasureRecord
from consent.reports.access_report import subject_access_report
from consent.reports.timeline import subject_timeline
from consent.services.erasure import subject_anonymize
from consent.services.subjects import lead_qualify, subject_update
from subjects import services as subject_services
from subjects.filters import ContactFilterSet, LeadFilterSet
from subjects.models import DERIVED_FIELDS, PREFERENCE_FIELDS, Contact, Lead
from subjects.services import SubjectReadOnlyError, subject_create

CHANGE = "%(app_label)s.change_%(model_name)s"


# Service errors that mean "not in the current state of the object" answer 409, not 400.
STATE_CONFLICT_CODES = frozenset({"invalid_state", "expired", "anonymized"})


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
            model=self.Meta.model, data=validated_data, user=request_user(self), source=Source.API
        )

    def update(self, instance, validated_data):
        return subject_update(
            subject=instance, data=validated_data, user=request_user(self), source=Source.API
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
        record = subject_anonymize(
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
        contact = lead_qualify(
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
