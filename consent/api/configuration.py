"""Configuration over the API: compliance profiles, purposes, topics and data policies."""

from django_filters import rest_framework as filters
from drf_spectacular.utils import (
    extend_schema,
    extend_schema_view,
)
from modeltranslation.utils import get_translation_fields
from rest_framework import serializers, viewsets

from common.api import ModelSerializer, StrictFilterSet, TranslatedModelSerializer, request_user
from common.audit import Source
from consent.api.subjects import STATE_CONFLICT_CODES
from consent.filters import DataPolicyFilterSet
from consent.models import ComplianceProfile, DataPolicy, Purpose, Topic
from consent.models.data_consent import MAX_VALIDITY_DAYS, REPORT_TEXT_FIELDS
from consent.services.configuration import (
    ConfigurationConflict,
    compliance_profile_save,
    configuration_delete,
    configuration_save,
    data_policy_delete,
    data_policy_save,
)


class ComplianceProfileSerializer(TranslatedModelSerializer):
    # Declared, so DRF adds no uniqueness validator: making a profile the default switches.
    is_default = serializers.BooleanField(
        required=False,
        help_text="The profile used when none is named. Setting it on one profile unsets it "
        "on the previous default (atomically); it cannot be unset on the default itself.",
    )

    class Meta:
        model = ComplianceProfile
        fields = [
            "id",
            "name",
            "organization_name",
            "slug",
            "is_default",
            "check_subject_consent",
            "double_opt_in",
            "unsubscribe_scope",
            "intro_text",
            "footer_text",
            *get_translation_fields("intro_text", "footer_text"),
            "notice_url",
            "notice_version",
            "sender_name",
            "data_policy",
            *REPORT_TEXT_FIELDS,
        ]

    def create(self, validated_data):
        return compliance_profile_save(
            ComplianceProfile(), validated_data, user=request_user(self), source=Source.API
        )

    def update(self, instance, validated_data):
        return compliance_profile_save(
            instance, validated_data, user=request_user(self), source=Source.API
        )


class PurposeSerializer(TranslatedModelSerializer):
    class Meta:
        model = Purpose
        fields = [
            "id",
            "profile",
            "name",
            "description",
            "kind",
            "consent_model",
            "required_level",
            *get_translation_fields("name", "description"),
            "require_current_notice",
        ]
        extra_kwargs = {
            "required_level": {
                "help_text": "Lowest data-consent level every subject holding the address "
                "needs (0–5; checked when the profile checks subject consent)."
            }
        }

    def create(self, validated_data):
        return configuration_save(
            Purpose(), validated_data, user=request_user(self), source=Source.API
        )

    def update(self, instance, validated_data):
        return configuration_save(
            instance, validated_data, user=request_user(self), source=Source.API
        )


class TopicSerializer(TranslatedModelSerializer):
    class Meta:
        model = Topic
        fields = [
            "id",
            "purpose",
            "name",
            "description",
            "active",
            *get_translation_fields("name", "description"),
        ]

    def create(self, validated_data):
        return configuration_save(
            Topic(), validated_data, user=request_user(self), source=Source.API
        )

    def update(self, instance, validated_data):
        return configuration_save(
            instance, validated_data, user=request_user(self), source=Source.API
        )


class ComplianceProfileFilterSet(StrictFilterSet):
    name = filters.CharFilter(lookup_expr="icontains", label="Name contains")

    class Meta:
        model = ComplianceProfile
        fields = ["slug", "is_default", "double_opt_in"]


class PurposeFilterSet(StrictFilterSet):
    class Meta:
        model = Purpose
        fields = ["profile", "kind", "consent_model"]


class TopicFilterSet(StrictFilterSet):
    name = filters.CharFilter(lookup_expr="icontains", label="Name contains")

    class Meta:
        model = Topic
        fields = {"purpose": ["exact"], "purpose__profile": ["exact"], "active": ["exact"]}


@extend_schema_view(
    destroy=extend_schema(
        description="Delete a profile that is not the default and whose purposes no "
        "contact-point consent or marketing list uses (409 otherwise)."
    )
)
class ComplianceProfileViewSet(viewsets.ModelViewSet):
    """Compliance profiles. Exactly one is the default: making another one the default
    switches it atomically; the default cannot be unset (400) or deleted (409)."""

    conflict_errors = (ConfigurationConflict,)
    queryset = ComplianceProfile.objects.all()
    serializer_class = ComplianceProfileSerializer
    filterset_class = ComplianceProfileFilterSet

    def perform_destroy(self, instance):
        configuration_delete(instance, user=self.request.user, source=Source.API)


@extend_schema_view(
    destroy=extend_schema(
        description="Delete a purpose (and its topics) that no contact-point consent or "
        "marketing list uses (409 otherwise)."
    )
)
class PurposeViewSet(viewsets.ModelViewSet):
    """Purposes of a compliance profile: kind, consent model, required data-consent level."""

    conflict_errors = (ConfigurationConflict,)
    queryset = Purpose.objects.all()
    serializer_class = PurposeSerializer
    filterset_class = PurposeFilterSet

    def perform_destroy(self, instance):
        configuration_delete(instance, user=self.request.user, source=Source.API)


@extend_schema_view(
    destroy=extend_schema(
        description="Delete a topic that no contact-point consent or marketing list uses "
        "(409 otherwise; set `active` to false instead)."
    )
)
class TopicViewSet(viewsets.ModelViewSet):
    """Topics of a purpose (e.g. Events, Newsletter)."""

    conflict_errors = (ConfigurationConflict,)
    queryset = Topic.objects.all()
    serializer_class = TopicSerializer
    filterset_class = TopicFilterSet

    def perform_destroy(self, instance):
        configuration_delete(
            instance, user=self.request.user, source=Source.API, hint="Set active to false instead."
        )


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
            *REPORT_TEXT_FIELDS,
        ]
        extra_kwargs = {"validity_days": {"max_value": MAX_VALIDITY_DAYS}}

    def create(self, validated_data):
        return self._save(DataPolicy(), validated_data)

    def update(self, instance, validated_data):
        return self._save(instance, validated_data)

    def _save(self, policy, validated_data):
        for name, value in validated_data.items():
            setattr(policy, name, value)
        return data_policy_save(policy=policy, user=request_user(self), source=Source.API)


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
        data_policy_delete(policy=instance, user=self.request.user, source=Source.API)
