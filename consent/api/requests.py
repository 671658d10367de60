"""Data subject requests over the API (DESIGN §3.11, §4 `data-subject-requests/`): CRUD with the
`view=open|due_7_days|overdue` filter, and the actions that answer a request."""

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from common.api import IdRelatedField, ModelSerializer, StrictFilterSet, request_user, view_filter
from common.audit import Source
from consent.models import DataSubjectRequest
from consent.reports.access_report import report_visible_to, subject_access_report
from consent.services.requests import (
    data_subject_request_complete,
    data_subject_request_create,
    data_subject_request_delete,
    data_subject_request_extend,
    data_subject_request_refuse,
    data_subject_request_update,
)

CHANGE = "consent.change_datasubjectrequest"


def _name(source: str, help_text: str):
    return serializers.CharField(
        source=source, read_only=True, allow_null=True, help_text=help_text
    )


class DataSubjectRequestSerializer(ModelSerializer):
    kind_label = _name("get_kind_display", "The kind in words.")
    status_label = _name("get_status_display", "The status in words.")
    lead_name = _name("lead", "The lead's name.")
    contact_name = _name("contact", "The contact's name.")
    handled_by_name = _name("handled_by.username", "Username of who handles the request.")
    handled_by = IdRelatedField(
        queryset=get_user_model().objects.all(), required=False, allow_null=True
    )
    has_access_report = serializers.SerializerMethodField(
        help_text="True when the report as sent is kept (GET {id}/access-report/)."
    )

    class Meta:
        model = DataSubjectRequest
        fields = [
            "id",
            "kind",
            "kind_label",
            "lead",
            "lead_name",
            "contact",
            "contact_name",
            "requester",
            "received_at",
            "due_at",
            "extension_reason",
            "status",
            "status_label",
            "handled_by",
            "handled_by_name",
            "notes",
            "outcome",
            "completed_at",
            "has_access_report",
            "erasure_record",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "due_at",
            "extension_reason",
            "outcome",
            "completed_at",
            "erasure_record",
        ]

    def get_has_access_report(self, obj) -> bool:
        return obj.access_report is not None

    def validate_status(self, value):
        if value not in (DataSubjectRequest.Status.OPEN, DataSubjectRequest.Status.IN_PROGRESS):
            raise serializers.ValidationError("Use the complete or refuse action.")
        return value

    def create(self, validated_data):
        validated_data.pop("status", None)
        return data_subject_request_create(
            **validated_data, user=request_user(self), source=Source.API
        )

    def update(self, instance, validated_data):
        validated_data.pop("received_at", None)
        return data_subject_request_update(
            request=instance, data=validated_data, user=request_user(self), source=Source.API
        )


class DataSubjectRequestFilterSet(StrictFilterSet):
    view = view_filter(DataSubjectRequest)

    class Meta:
        model = DataSubjectRequest
        fields = {
            "kind": ["exact"],
            "status": ["exact"],
            "lead": ["exact"],
            "contact": ["exact"],
            "handled_by": ["exact"],
            "due_at": ["gte", "lte"],
            "received_at": ["gte", "lte"],
        }


class CompleteSerializer(serializers.Serializer):
    outcome = serializers.CharField(required=False, allow_blank=True, default="")


class RefuseSerializer(serializers.Serializer):
    reason = serializers.CharField(help_text="What the person is told, and why.")


class ExtendSerializer(serializers.Serializer):
    due_at = serializers.DateTimeField(help_text="The new deadline (≤ 3 months after receipt).")
    reason = serializers.CharField(help_text="Why more time is needed.")


class DataSubjectRequestViewSet(viewsets.ModelViewSet):
    """Requests of data subjects: `view=open|due_7_days|overdue`. Service desk may take them in
    and read them; answering (complete, refuse, extend) needs the change permission; an erasure
    also needs the subject's anonymize permission. An answered request is never deleted (409)."""

    queryset = DataSubjectRequest.objects.select_related("lead", "contact", "handled_by")
    serializer_class = DataSubjectRequestSerializer
    filterset_class = DataSubjectRequestFilterSet
    conflict_codes = frozenset({"invalid_state"})
    action_permissions = {
        "complete": [CHANGE],
        "refuse": [CHANGE],
        "extend": [CHANGE],
        "access_report": ["consent.view_datasubjectrequest"],
    }

    def perform_destroy(self, instance):
        data_subject_request_delete(request=instance, user=self.request.user, source=Source.API)

    def _answered(self, obj):
        return Response(self.get_serializer(obj).data)

    @extend_schema(request=CompleteSerializer, responses=DataSubjectRequestSerializer)
    @action(detail=True, methods=["post"])
    def complete(self, request, pk=None):
        """Answer the request: an access request keeps the subject's report as sent, an
        erasure request anonymizes the subject and links the erasure record."""
        obj = self.get_object()
        body = CompleteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        report = None
        if obj.kind == DataSubjectRequest.Kind.ACCESS and obj.subject is not None:
            report = subject_access_report(subject=obj.subject, user=request.user)
        subject = obj.subject
        erasure = obj.kind == DataSubjectRequest.Kind.ERASURE and subject is not None
        if erasure and not request.user.has_perm(f"subjects.anonymize_{subject.subject_type}"):
            self.permission_denied(request, "Erasure needs the anonymize permission.")
        obj = data_subject_request_complete(
            request=obj,
            outcome=body.validated_data["outcome"],
            access_report=report,
            user=request.user,
            source=Source.API,
        )
        return self._answered(obj)

    @extend_schema(request=RefuseSerializer, responses=DataSubjectRequestSerializer)
    @action(detail=True, methods=["post"])
    def refuse(self, request, pk=None):
        """Refuse the request, with the reason the person is told."""
        obj = self.get_object()  # an unknown id is a 404 whatever the body
        body = RefuseSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        obj = data_subject_request_refuse(
            request=obj, **body.validated_data, user=request.user, source=Source.API
        )
        return self._answered(obj)

    @extend_schema(request=ExtendSerializer, responses=DataSubjectRequestSerializer)
    @action(detail=True, methods=["post"])
    def extend(self, request, pk=None):
        """Extend the deadline (Art. 12(3)), with the reason."""
        obj = self.get_object()  # an unknown id is a 404 whatever the body
        body = ExtendSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        obj = data_subject_request_extend(
            request=obj, **body.validated_data, user=request.user, source=Source.API
        )
        return self._answered(obj)

    @extend_schema(request=None, responses=dict)
    @action(detail=True, methods=["get"], url_path="access-report", filter_backends=[])
    def access_report(self, request, pk=None):
        """The access report as sent with a completed access request (confidentiality
        applied for the reader); 404 when the request keeps none."""
        obj = self.get_object()
        if not obj.access_report:
            raise NotFound("This request keeps no access report.")
        return Response(report_visible_to(obj.access_report, request.user))
