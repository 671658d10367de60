"""`GET /api/v1/unsubscribe-headers/` (DESIGN §4): the RFC 8058 headers of one message."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import permissions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api import IdRelatedField
from consent.models import Channel, Purpose, Topic
from consent.models.contact_point import ADDRESS_MAX_LENGTH
from preference_center.links import unsubscribe_headers
from preference_center.models import UNSUBSCRIBE_HEADERS_PERMISSION


class CanGetUnsubscribeHeaders(permissions.BasePermission):
    """Sending systems: `preference_center.get_unsubscribe_headers`, and nothing else.

    The headers carry a working unsubscribe link for any address the caller names, so neither
    a consent check (`consent.check_consent`) nor reading contact-point consents implies it.
    """

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(
            user and user.is_authenticated and user.has_perm(UNSUBSCRIBE_HEADERS_PERMISSION)
        )


class UnsubscribeHeadersQuerySerializer(serializers.Serializer):
    channel = serializers.ChoiceField(choices=Channel.choices)
    value = serializers.CharField(
        max_length=ADDRESS_MAX_LENGTH * 2, help_text="The recipient's address (email, phone, id)."
    )
    purpose = IdRelatedField(
        queryset=Purpose.objects.select_related("profile"),
        help_text="Id of the message's (commercial) purpose.",
    )
    topic = IdRelatedField(
        queryset=Topic.objects.all(),
        required=False,
        help_text="Id of the message's topic, a topic of that purpose.",
    )


class UnsubscribeHeadersSerializer(serializers.Serializer):
    """The two headers, keyed by header name, ready to add to the message."""

    def get_fields(self):
        return {
            "List-Unsubscribe": serializers.CharField(
                help_text="`<https://…/unsubscribe/<token>/>`, plus `<mailto:…>` when "
                "UNSUBSCRIBE_MAILTO is set."
            ),
            "List-Unsubscribe-Post": serializers.CharField(
                help_text="Always `List-Unsubscribe=One-Click` (RFC 8058)."
            ),
        }


class UnsubscribeHeadersView(APIView):
    permission_classes = [CanGetUnsubscribeHeaders]

    @extend_schema(
        operation_id="unsubscribe_headers",
        parameters=[UnsubscribeHeadersQuerySerializer],
        responses={
            200: UnsubscribeHeadersSerializer,
            400: OpenApiResponse(description="Invalid input: a message per field."),
        },
        description="The `List-Unsubscribe` and `List-Unsubscribe-Post` headers (RFC 2369, "
        "RFC 8058) for one commercial message to one address. The link opts the address out per "
        "its compliance profile's `unsubscribe_scope`, with one POST and no cookies; it can "
        "never opt an address in. Needs the permission "
        "`preference_center.get_unsubscribe_headers` (a sending system's token).",
    )
    def get(self, request):
        query = UnsubscribeHeadersQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        return Response(unsubscribe_headers(**query.validated_data))
