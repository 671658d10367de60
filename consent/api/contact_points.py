"""Contact-point consents over the API: list, retrieve, and create as an upsert."""

from datetime import timedelta

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Q
from django.utils import timezone
from django_filters import rest_framework as filters
from drf_spectacular.utils import (
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.response import Response

from common.api import Conflict, IdRelatedField, ModelSerializer, StrictFilterSet
from common.audit import Source, evidence_from
from consent.addresses import normalize_address as _normalize_address
from consent.api.receipts import ReceiptMixin
from consent.models import Channel, ContactPointConsent, Topic
from consent.models.contact_point import ADDRESS_MAX_LENGTH
from consent.services.contact_points import (
    SUPPRESSED_MESSAGE,
    SUPPRESSED_NO_OP_MESSAGE,
    contact_point_consent_set,
)


class ContactPointConsentSerializer(ModelSerializer):
    """Read, and the body of the upsert (every field of the new state and its evidence)."""

    value = serializers.CharField(
        max_length=ADDRESS_MAX_LENGTH,
        help_text="The address: an email, a phone number (any format; stored in E.164) or a "
        "custom id. Stored normalized.",
    )
    topic = IdRelatedField(
        queryset=Topic.objects.all(),
        required=False,
        allow_null=True,
        help_text="A topic of the purpose; empty for the purpose-level record.",
    )
    captured_by_name = serializers.CharField(
        source="captured_by.username",
        read_only=True,
        allow_null=True,
        help_text="Username of who recorded the current state.",
    )
    notice_version = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=50,
        help_text="Version of the notice shown; defaults to the profile's.",
    )

    class Meta:
        model = ContactPointConsent
        fields = [
            "id",
            "channel",
            "value",
            "purpose",
            "topic",
            "status",
            "source",
            "reason",
            "reason_description",
            "requested_by",
            "captured_by",
            "captured_by_name",
            "captured_at",
            "ip_address",
            "user_agent",
            "notice_version",
            "expires_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["captured_by"]
        # The upsert finds the existing record itself: no "must make a unique set" errors.
        validators = []
        extra_kwargs = {
            "status": {"required": True},
            "source": {"default": Source.API},
            "captured_at": {"help_text": "When the customer gave or withdrew it; default now."},
            "ip_address": {"help_text": "Defaults to the API caller's address."},
            "user_agent": {"help_text": "Defaults to the API caller's User-Agent."},
            "expires_at": {"help_text": "An opt-in past this moment counts as not set."},
        }

    def validate_captured_at(self, value):
        # Evidence cannot come from the future (a day of clock skew is tolerated).
        if value > timezone.now() + timedelta(days=1):
            raise serializers.ValidationError("Consent cannot be captured in the future.")
        return value

    def validate(self, attrs):
        expires_at = attrs.get("expires_at")
        if expires_at and expires_at <= attrs.get("captured_at", timezone.now()):
            raise serializers.ValidationError(
                {"expires_at": ["An expiry must be later than the capture."]}
            )
        return attrs


def _is_suppressed_error(exc: DjangoValidationError) -> bool:
    errors = getattr(exc, "error_dict", {}).get("value", [])
    return any(error.code == "suppressed" for error in errors)


class ContactPointConsentFilterSet(StrictFilterSet):
    value = filters.CharFilter(
        method="filter_value",
        label="Address, normalized like the stored one (Ada@Example.org finds ada@example.org)",
    )

    class Meta:
        model = ContactPointConsent
        fields = {
            "channel": ["exact"],
            "purpose": ["exact"],
            "topic": ["exact", "isnull"],
            "status": ["exact"],
            "source": ["exact"],
            "captured_at": ["gte", "lte"],
        }

    def filter_value(self, queryset, name, value):
        channel = self.form.cleaned_data.get("channel")
        if channel:
            return queryset.filter(channel=channel, value=_normalize_address(channel, value))
        # No channel given: the address in every channel it is valid for.
        match = Q()
        for each in Channel.values:
            try:
                match |= Q(channel=each, value=_normalize_address(each, value))
            except DjangoValidationError:
                continue
        return queryset.filter(match) if match else queryset.none()


@extend_schema_view(
    create=extend_schema(
        description="Upsert on (channel, value, purpose, topic) through the consent service: "
        "201 with the new record, 200 when a record existed (changed, or unchanged when the "
        "same status and evidence are sent again). Opting in a suppressed address is 409. "
        "Needs `consent.add_contactpointconsent` and `consent.change_contactpointconsent`.",
        responses={201: ContactPointConsentSerializer, 200: ContactPointConsentSerializer},
    )
)
class ContactPointConsentViewSet(
    ReceiptMixin,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.ListModelMixin,
    viewsets.GenericViewSet,
):
    """Consent per address: no update or delete (405) — a new state is a new POST, and the
    previous one stays in the record's history."""

    queryset = ContactPointConsent.objects.select_related("captured_by")
    serializer_class = ContactPointConsentSerializer
    filterset_class = ContactPointConsentFilterSet
    # An upsert may change an existing record, so it needs both.
    action_permissions = {
        "create": ["consent.add_contactpointconsent", "consent.change_contactpointconsent"]
    }

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        evidence, data = evidence_from(
            serializer.validated_data,
            actor=request.user,
            ip_address=request.META.get("REMOTE_ADDR") or None,
            user_agent=request.META.get("HTTP_USER_AGENT", ""),
        )
        try:
            record, created, _ = contact_point_consent_set(**data, evidence=evidence)
        except DjangoValidationError as exc:
            if _is_suppressed_error(exc):
                raise Conflict(SUPPRESSED_MESSAGE) from exc
            raise
        if record is None:
            # A suppressed address (its owner was erased after opting out): nothing is stored,
            # and the answer does not repeat the address (docs/api.md).
            answer = {
                "suppressed": True,
                "channel": data["channel"],
                "status": data["status"],
                "detail": SUPPRESSED_NO_OP_MESSAGE,
            }
            return Response(answer, status=status.HTTP_200_OK)
        answer = self.get_serializer(record).data
        return Response(answer, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)
