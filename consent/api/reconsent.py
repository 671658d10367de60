"""`GET /api/v1/reconsent/` (DESIGN §3.9): the opt-ins of a profile (`profile=`, optionally
`purpose=`) or the active consents of a data policy (`policy=`) given under a notice older than
its latest material one, by address. Paginated JSON; `format=csv` streams CSV."""

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers, viewsets
from rest_framework.renderers import JSONRenderer

from common.csvutil import csv_lines
from consent.models import ComplianceProfile, ContactPointConsent, DataPolicy, Purpose
from consent.reports.reconsent import (
    contact_point_row,
    data_consent_row,
    outdated_data_consents,
    outdated_opt_ins,
    reconsent_csv_rows,
)


class ReconsentQuerySerializer(serializers.Serializer):
    profile = serializers.PrimaryKeyRelatedField(
        queryset=ComplianceProfile.objects.all(), required=False, help_text="Profile id."
    )
    purpose = serializers.PrimaryKeyRelatedField(
        queryset=Purpose.objects.all(), required=False, help_text="Purpose id (of the profile)."
    )
    policy = serializers.PrimaryKeyRelatedField(
        queryset=DataPolicy.objects.all(), required=False, help_text="Data policy id."
    )
    format = serializers.ChoiceField(choices=["json", "csv"], default="json")

    def validate(self, attrs):
        if ("profile" in attrs) == ("policy" in attrs):
            raise serializers.ValidationError(
                {"profile": ["Give a profile (opt-ins) or a policy (data consents), not both."]}
            )
        purpose = attrs.get("purpose")
        if purpose is not None and purpose.profile_id != getattr(attrs.get("profile"), "pk", None):
            raise serializers.ValidationError({"purpose": ["Give a purpose of the profile."]})
        return attrs


class ReconsentRowSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    address = serializers.CharField()
    notice_version = serializers.CharField()
    current_version = serializers.CharField()
    source = serializers.CharField()


class ReconsentViewSet(viewsets.GenericViewSet):
    """Consents given under an older notice (DPO): re-consent candidates, by address."""

    queryset = ContactPointConsent.objects.none()  # permissions: view contact-point consents
    serializer_class = ReconsentRowSerializer
    filter_backends = []

    def perform_content_negotiation(self, request, force=False):
        renderer = JSONRenderer()  # `format=csv` is answered by the view itself
        return renderer, renderer.media_type

    @extend_schema(
        parameters=[ReconsentQuerySerializer],
        responses={
            (200, "application/json"): ReconsentRowSerializer(many=True),
            (200, "text/csv"): OpenApiTypes.STR,
        },
    )
    def list(self, request):
        params = ReconsentQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        options = params.validated_data
        profile, policy = options.get("profile"), options.get("policy")
        if policy is not None and not request.user.has_perm("consent.view_dataconsent"):
            raise exceptions.PermissionDenied()
        if options["format"] == "csv":
            header, rows = reconsent_csv_rows(
                profile=profile, purpose=options.get("purpose"), policy=policy, user=request.user
            )
            response = StreamingHttpResponse(
                csv_lines(header, rows), content_type="text/csv; charset=utf-8"
            )
            name = f"profile-{profile.pk}" if profile else f"policy-{policy.pk}"
            response["Content-Disposition"] = f'attachment; filename="reconsent-{name}.csv"'
            return response
        if profile is not None:
            queryset = outdated_opt_ins(profile, purpose=options.get("purpose"))
            to_row, current = contact_point_row, profile.notice_version
        else:
            queryset = outdated_data_consents(policy, user=request.user)
            to_row, current = data_consent_row, policy.notice_version
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response([to_row(item, current) for item in page])
