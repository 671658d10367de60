"""Webhooks in the admin (DESIGN §3.10): endpoints (DPO), and the delivery log with a
"Redeliver" action. Endpoints save through `webhook_endpoint_save` (the SSRF check)."""

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.utils.html import format_html

from common.admin import LargeTableAdminMixin, ServiceAdminMixin, ServiceModelForm
from consent.models import WebhookDelivery, WebhookEndpoint, WebhookEventType
from consent.services.webhooks import (
    webhook_delivery_redeliver,
    webhook_endpoint_save,
    webhook_endpoint_validate,
)


class WebhookEndpointForm(ServiceModelForm):
    url = forms.URLField(max_length=500, assume_scheme="https")
    events = forms.MultipleChoiceField(
        choices=WebhookEventType.choices, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["url", "description", "events", "active", "receives_confidential", "secret"]

    def validate(self, user) -> None:
        data = self.cleaned_data
        secret = data.get("secret") or self.instance.secret
        webhook_endpoint_validate(url=data["url"], events=list(data["events"]), secret=secret)

    def apply(self, user):
        data = {name: self.cleaned_data[name] for name in self._meta.fields}
        data["events"] = list(data["events"])
        endpoint = WebhookEndpoint.objects.get(pk=self.instance.pk) if self.instance.pk else None
        return webhook_endpoint_save(endpoint=endpoint or WebhookEndpoint(), data=data)


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ServiceAdminMixin, admin.ModelAdmin):
    form = WebhookEndpointForm
    list_display = ["url", "description", "event_list", "active", "receives_confidential"]
    list_filter = ["active", "receives_confidential"]
    search_fields = ["url", "description"]

    @admin.display(description="Events")
    def event_list(self, obj):
        return ", ".join(obj.events)


class RedeliveredFilter(admin.SimpleListFilter):
    title = "redelivery"
    parameter_name = "redelivery"

    def lookups(self, request, model_admin):
        return [("yes", "Redeliveries only")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(redelivery_of__isnull=False)
        return queryset


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(LargeTableAdminMixin, admin.ModelAdmin):
    """The delivery log: status, attempts and last error of every event sent to an endpoint."""

    list_display = [
        "id",
        "created_at",
        "endpoint",
        "event_type",
        "event_id",
        "status_label",
        "attempts",
        "response_code",
        "next_attempt_at",
        "short_error",
    ]
    list_filter = ["status", "event_type", "endpoint", RedeliveredFilter]
    list_select_related = ["endpoint"]
    search_fields = ["=event_id"]
    date_hierarchy = "created_at"
    actions = ["redeliver"]
    readonly_fields = [field.name for field in WebhookDelivery._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # the log is read-only; the action needs change_webhookdelivery

    def has_redeliver_permission(self, request):
        return request.user.has_perm("consent.change_webhookdelivery")

    @admin.display(description="Status", ordering="status")
    def status_label(self, obj):
        # Coloured by consent-crm.css (no style attribute: CSP style-src 'self').
        state = obj.status if obj.status in ("delivered", "failed") else "pending"
        return format_html('<b class="delivery-{}">{}</b>', state, obj.get_status_display())

    @admin.display(description="Last error")
    def short_error(self, obj):
        return obj.last_error[:80]

    @admin.action(description="Redeliver the selected deliveries", permissions=["redeliver"])
    def redeliver(self, request, queryset):
        with transaction.atomic():
            copies = [webhook_delivery_redeliver(delivery=d) for d in queryset.order_by("pk")]
        self.message_user(request, f"{len(copies)} delivery(ies) queued again.", messages.SUCCESS)
