"""Notices over the API (DESIGN §3.9): CRUD of drafts, `POST {id}/publish/`; a published notice
keeps its text and is never deleted (409 with the reason)."""

from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from common.api import ModelSerializer, StrictFilterSet, request_user
from common.audit import Source
from consent.models import Notice
from consent.services.notices import (
    NoticeImmutable,
    notice_create,
    notice_delete,
    notice_publish,
    notice_update,
)


class NoticeSerializer(ModelSerializer):
    profile_name = serializers.CharField(source="profile.name", read_only=True, allow_null=True)
    policy_name = serializers.CharField(source="policy.name", read_only=True, allow_null=True)

    class Meta:
        model = Notice
        fields = [
            "id",
            "profile",
            "profile_name",
            "policy",
            "policy_name",
            "version",
            "language",
            "title",
            "url",
            "text",
            "material",
            "published_at",
            "created_at",
        ]
        read_only_fields = ["published_at", "created_at"]
        extra_kwargs = {
            "profile": {"help_text": "Compliance profile id (or give `policy`, never both)."},
            "policy": {"help_text": "Data policy id (or give `profile`, never both)."},
        }
        # Uniqueness per (owner, version, language) is checked by the model (full_clean).
        validators = []

    def validate(self, attrs):
        owner = {
            name: attrs.get(name, getattr(self.instance, name, None))
            for name in ("profile", "policy")
        }
        if (owner["profile"] is None) == (owner["policy"] is None):
            raise serializers.ValidationError(
                {"profile": ["Give exactly one of profile and policy."]}
            )
        return attrs

    def create(self, validated_data):
        return notice_create(data=validated_data, user=request_user(self), source=Source.API)

    def update(self, instance, validated_data):
        return notice_update(
            instance, data=validated_data, user=request_user(self), source=Source.API
        )


class NoticeFilterSet(StrictFilterSet):
    published = filters.BooleanFilter(
        field_name="published_at", lookup_expr="isnull", exclude=True, label="Published"
    )

    class Meta:
        model = Notice
        fields = ["profile", "policy", "language", "material", "version"]


@extend_schema_view(
    destroy=extend_schema(description="Delete a draft; a published notice is never deleted (409)."),
    update=extend_schema(description="Edit a draft; a published notice only its title and url."),
)
class NoticeViewSet(viewsets.ModelViewSet):
    """Versioned privacy notices per compliance profile or data policy and language."""

    queryset = Notice.objects.select_related("profile", "policy")
    serializer_class = NoticeSerializer
    filterset_class = NoticeFilterSet
    conflict_errors = (NoticeImmutable,)
    action_permissions = {"publish": ["consent.change_notice"]}

    def perform_destroy(self, instance):
        notice_delete(instance, user=self.request.user, source=Source.API)

    @extend_schema(request=None, responses=NoticeSerializer)
    @action(detail=True, methods=["post"])
    def publish(self, request, pk=None):
        """Publish a draft: its profile or policy is in force with its version from now on."""
        notice = notice_publish(self.get_object(), user=request.user, source=Source.API)
        return Response(self.get_serializer(notice).data)
