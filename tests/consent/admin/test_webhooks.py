"""Webhooks in the admin (consent/admin/webhooks.py): endpoints, the delivery log, redeliver."""

from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

from consent.models import WebhookDelivery, WebhookEndpoint
from tests import factories

ENDPOINTS = "/admin/consent/webhookendpoint/"
LOG = "/admin/consent/webhookdelivery/"


def test_a_dpo_adds_an_endpoint_and_ssrf_is_a_form_error(client, dpo, settings):
    client.force_login(dpo)
    form = {
        "url": "https://10.0.0.1/in",
        "description": "Sync",
        "events": ["subject.anonymized", "suppression.created"],
        "active": "on",
        "secret": "whsec_" + "QUJD" * 8,
    }
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    refused = client.post(f"{ENDPOINTS}add/", form)
    assert refused.status_code == 200
    assert "private or local address" in refused.content.decode()
    assert not WebhookEndpoint.objects.exists()
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    saved = client.post(f"{ENDPOINTS}add/", {**form, "url": "http://127.0.0.1:9/in"})
    assert saved.status_code == 302
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.events == ["subject.anonymized", "suppression.created"]
    page = client.get(ENDPOINTS).content.decode()
    assert "subject.anonymized, suppression.created" in page


def test_the_delivery_log_shows_status_and_error_and_redelivers(client, dpo, marketer):
    endpoint = WebhookEndpoint.objects.create(
        url="http://127.0.0.1:9/in", events=["contact_point_consent.changed"]
    )
    factories.cp_consent(
        value="log@example.org", purpose_obj=factories.purpose(), status="opted_in"
    )
    delivery = WebhookDelivery.objects.get()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status="failed", attempts=12, last_error="ConnectionRefused"
    )
    client.force_login(dpo)
    page = client.get(f"{LOG}?status=failed").content.decode()
    assert "Failed (given up)" in page and "ConnectionRefused" in page
    assert str(endpoint) in page
    response = client.post(
        LOG, {"action": "redeliver", ACTION_CHECKBOX_NAME: [delivery.pk]}, follow=True
    )
    assert "1 delivery(ies) queued again." in response.content.decode()
    copy = WebhookDelivery.objects.get(redelivery_of=delivery)
    assert (copy.status, copy.event_id) == ("pending", delivery.event_id)

    client.force_login(marketer)
    assert client.get(LOG).status_code == 403
    assert client.get(ENDPOINTS).status_code == 403
