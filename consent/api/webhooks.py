"""Webhook endpoints over the API (DESIGN §4 `webhooks/`): CRUD, the delivery log of an
endpoint, and redeliver. DPO only (model permissions)."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from common.api import ModelSerializer
from consent.models import WebhookDelivery, WebhookEndpoint, WebhookEventType
from consent.services.webhooks import webhook_delivery_redeliver, webhook_endpoint_save


class WebhookEndpointSerializer(ModelSerializer):
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=WebhookEventType.choices), allow_empty=False
    )
    secret = serializers.CharField(
        required=False,
        max_length=100,
        help_text="Standard Webhooks signing secret (whsec_…); generated when not given.",
    )

    class Meta:
        model = WebhookEndpoint
        fields = [
            "id",
            "url",
            "description",
            "events",
            "active",
            "receives_confidential",
            "secret",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]

    def create(self, validated_data):
        return webhook_endpoint_save(endpoint=WebhookEndpoint(), data=validated_data)

    def update(self, instance, validated_data):
        return webhook_endpoint_save(endpoint=instance, data=validated_data)


class WebhookDeliverySerializer(ModelSerializer):
    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "endpoint",
            "event_id",
            "event_type",
            "address_key",
            "data",
            "created_at",
            "status",
            "attempts",
            "next_attempt_at",
            "last_attempt_at",
            "delivered_at",
            "response_code",
            "last_error",
            "redelivery_of",
        ]
        read_only_fields = fields


class WebhookEndpointViewSet(viewsets.ModelViewSet):
    """Webhook endpoints. Each change of consent is POSTed to the endpoints subscribed to its
    event type, signed per the Standard Webhooks spec with the endpoint's `secret`."""

    serializer_class = WebhookEndpointSerializer
    queryset = WebhookEndpoint.objects.all()
    action_permissions = {
        "deliveries": ["consent.view_webhookendpoint", "consent.view_webhookdelivery"],
        "redeliver": ["consent.view_webhookendpoint", "consent.change_webhookdelivery"],
    }

    @extend_schema(responses=WebhookDeliverySerializer(many=True))
    @action(detail=True, methods=["get"])
    def deliveries(self, request, pk=None):
        """The endpoint's delivery log, newest first (`?status=pending|delivered|failed`)."""
        endpoint = self.get_object()
        log = WebhookDelivery.objects.filter(endpoint=endpoint).order_by("-pk")
        wanted = request.query_params.get("status")
        if wanted:
            if wanted not in WebhookDelivery.Status.values:
                raise serializers.ValidationError({"status": [f"Unknown status {wanted!r}."]})
            log = log.filter(status=wanted)
        page = self.paginate_queryset(log)
        return self.get_paginated_response(WebhookDeliverySerializer(page, many=True).data)

    @extend_schema(request=None, responses={201: WebhookDeliverySerializer})
    @action(
        detail=True,
        methods=["post"],
        url_path=r"deliveries/(?P<delivery_id>[0-9]{1,18})/redeliver",
    )
    def redeliver(self, request, pk=None, delivery_id=None):
        """Queue a delivery again (same webhook-id and payload): 201 with the new delivery."""
        endpoint = self.get_object()
        delivery = get_object_or_404(WebhookDelivery, pk=delivery_id, endpoint=endpoint)
        copy = webhook_delivery_redeliver(delivery=delivery)
        return Response(WebhookDeliverySerializer(copy).data, status=status.HTTP_201_CREATED)
