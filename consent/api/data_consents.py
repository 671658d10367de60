"""Data consents over the API: list, create, retrieve, update, cancel, reactivate (never DELETE)."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from common.api import IdRelatedField, ModelSerializer, request_user
from common.audit import Source, evidence_from
from consent.api.receipts import ReceiptMixin
from consent.api.subjects import STATE_CONFLICT_CODES
from consent.filters import DataConsentFilterSet
from consent.models import DataConsent
from consent.services.data_consents import (
    CONSENT_EDITABLE_FIELDS,
    data_consent_cancel,
    data_consent_create,
    data_consent_reactivate,
    data_consent_update,
)
from subjects.services import SubjectReadOnlyError


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
        evidence, data = evidence_from(validated_data, actor=request_user(self))
        return data_consent_create(**data, evidence=evidence)


class DataConsentUpdateSerializer(DataConsentSerializer):
    """Update: only `CONSENT_EDITABLE_FIELDS` are writable; the others are ignored.

    Only the keys sent reach the service, so `{"confidential": true}` alone clears the owner
    (and is refused until an owner is given), while sending an owner along keeps it.
    """

    class Meta(DataConsentSerializer.Meta):
        read_only_fields = [
            name
            for name in DataConsentSerializer.Meta.fields
            if name not in CONSENT_EDITABLE_FIELDS
        ]
        extra_kwargs = {}

    def update(self, instance, validated_data):
        return data_consent_update(
            consent=instance, data=validated_data, user=request_user(self), source=Source.API
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
    ReceiptMixin,
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
        return self._run(data_consent_cancel)

    @extend_schema(request=NoteSerializer, responses=DataConsentSerializer)
    @action(detail=True, methods=["post"])
    def reactivate(self, request, pk=None):
        """Reactivate a cancelled consent whose `valid_until` has not passed."""
        return self._run(data_consent_reactivate)
