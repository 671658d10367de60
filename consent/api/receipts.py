"""`GET …/{id}/receipt/?format=kantara|iso27560` on contact-point consents and data consents
(DESIGN §3.9). The record is the viewset's own object, so confidentiality applies: a data
consent the user may not see has no receipt either (404)."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from consent.reports.receipts import FORMATS, receipt


class ReceiptQuerySerializer(serializers.Serializer):
    format = serializers.ChoiceField(
        choices=FORMATS,
        default="kantara",
        help_text="`kantara`: Kantara Consent Receipt v1.1; `iso27560`: ISO/IEC TS 27560 "
        "consent record as JSON-LD with W3C DPV terms.",
    )


class ReceiptMixin:
    """Adds the `receipt` action to a viewset of consent records."""

    def perform_content_negotiation(self, request, force=False):
        # `format=` names the receipt's format here, not a DRF renderer (which would be a 404).
        if self.action == "receipt":
            renderer = JSONRenderer()
            return renderer, renderer.media_type
        return super().perform_content_negotiation(request, force)

    @extend_schema(
        parameters=[ReceiptQuerySerializer],
        responses={
            (200, "application/json"): OpenApiTypes.OBJECT,
            (200, "application/ld+json"): OpenApiTypes.OBJECT,
        },
    )
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def receipt(self, request, pk=None):
        """The record's consent receipt; the person is named by a keyed hash of the address."""
        record = self.get_object()
        params = ReceiptQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        output = params.validated_data["format"]
        content_type = "application/ld+json" if output == "iso27560" else "application/json"
        return Response(receipt(record, format=output), content_type=content_type)
