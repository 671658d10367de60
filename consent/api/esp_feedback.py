"""ESP feedback over HTTP (DESIGN §3.10): django-anymail's tracking webhooks at
`/esp/<provider>/tracking/`, authenticated the way anymail does (HTTP basic auth with
`ANYMAIL["WEBHOOK_SECRET"]`, plus the provider's own signature checks where anymail has them).

Anymail parses each provider's payload into normalized events and sends its `tracking` signal;
`esp_tracking_received` — connected in ConsentConfig.ready(), anymail's documented API — is
only the entry point that hands each event to `esp_feedback_record`.
"""

from functools import wraps

from anymail.exceptions import AnymailConfigurationError
from anymail.webhooks.amazon_ses import AmazonSESTrackingWebhookView
from anymail.webhooks.brevo import BrevoTrackingWebhookView
from anymail.webhooks.mailgun import MailgunTrackingWebhookView
from anymail.webhooks.mailjet import MailjetTrackingWebhookView
from anymail.webhooks.postmark import PostmarkTrackingWebhookView
from anymail.webhooks.sendgrid import SendGridTrackingWebhookView
from anymail.webhooks.sparkpost import SparkPostTrackingWebhookView
from django.conf import settings
from django.http import HttpResponseForbidden
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from consent.services.esp_feedback import EspEvent, esp_feedback_record

TRACKING_VIEWS = {
    "amazon_ses": AmazonSESTrackingWebhookView,
    "brevo": BrevoTrackingWebhookView,
    "mailgun": MailgunTrackingWebhookView,
    "mailjet": MailjetTrackingWebhookView,
    "postmark": PostmarkTrackingWebhookView,
    "sendgrid": SendGridTrackingWebhookView,
    "sparkpost": SparkPostTrackingWebhookView,
}


def esp_tracking_received(sender, event, esp_name, **kwargs) -> None:
    """anymail's `tracking` signal receiver: one normalized event → the service."""
    esp_feedback_record(
        event=EspEvent(
            provider=esp_name,
            event_type=event.event_type,
            recipient=event.recipient,
            event_id=event.event_id,
            message_id=event.message_id,
            timestamp=event.timestamp,
            metadata=event.metadata if isinstance(event.metadata, dict) else {},
        )
    )


def _secret_required(view):
    """Without a configured basic-auth secret anymail would accept anyone's posts (with a
    warning): refuse them instead, so nobody can opt addresses out by posting fake events. A
    provider whose own setting is missing (Mailgun's signing key) is refused too, not a 500."""

    @wraps(view)
    def guarded(request, *args, **kwargs):
        if not settings.ANYMAIL.get("WEBHOOK_SECRET"):
            return HttpResponseForbidden("ESP feedback is not configured (ANYMAIL_WEBHOOK_SECRET).")
        try:
            return view(request, *args, **kwargs)
        except AnymailConfigurationError as exc:  # e.g. Mailgun's signing key is missing
            return HttpResponseForbidden(f"ESP feedback is not configured: {exc}")

    return csrf_exempt(guarded)


urlpatterns = [
    path(f"{provider}/tracking/", _secret_required(view.as_view()), name=f"esp-{provider}")
    for provider, view in TRACKING_VIEWS.items()
]
