"""`/api/v1/webhooks/` (consent/api/webhooks.py): CRUD, delivery log, redeliver; DPO only."""

from consent.models import WebhookDelivery, WebhookEndpoint
from tests import factories

WEBHOOKS = "/api/v1/webhooks/"


def create(client, **data):
    body = {"url": "http://127.0.0.1:9/in", "events": ["contact_point_consent.changed"], **data}
    return client.post(WEBHOOKS, body, format="json")


def test_a_dpo_creates_lists_edits_and_deletes_an_endpoint(as_dpo):
    response = create(as_dpo, description="CRM sync")
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["secret"].startswith("whsec_")
    assert created["events"] == ["contact_point_consent.changed"]
    assert created["receives_confidential"] is False
    url = f"{WEBHOOKS}{created['id']}/"
    assert as_dpo.get(WEBHOOKS).json()["results"][0]["id"] == created["id"]
    edited = as_dpo.patch(url, {"events": ["subject.anonymized"], "active": False}, format="json")
    assert edited.status_code == 200, edited.content
    assert WebhookEndpoint.objects.get().events == ["subject.anonymized"]
    assert as_dpo.delete(url).status_code == 204
    assert not WebhookEndpoint.objects.exists()


def test_ssrf_and_unknown_events_are_400_with_field_errors(as_dpo, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    response = create(as_dpo, url="https://10.0.0.1/in", events=["nope"])
    assert response.status_code == 400
    assert set(response.json()) == {"events"}  # the serializer refuses the event first
    response = create(as_dpo, url="https://10.0.0.1/in")
    assert response.status_code == 400
    assert "private or local" in response.json()["url"][0]
    assert not WebhookEndpoint.objects.exists()


def test_other_roles_cannot_see_or_manage_webhooks(client_for, marketer, service_desk):
    for user in (marketer, service_desk):
        client = client_for(user)
        assert client.get(WEBHOOKS).status_code == 403
        assert create(client).status_code == 403


def test_the_delivery_log_and_redeliver(as_dpo, client_for, marketer):
    endpoint_id = create(as_dpo).json()["id"]
    purpose = factories.purpose()
    for n in range(2):
        factories.cp_consent(value=f"a{n}@example.org", purpose_obj=purpose, status="opted_in")
    log = as_dpo.get(f"{WEBHOOKS}{endpoint_id}/deliveries/")
    assert log.status_code == 200
    rows = log.json()["results"]
    assert [r["status"] for r in rows] == ["pending", "pending"]
    assert rows[0]["data"]["value"] == "a1@example.org"  # newest first
    first = WebhookDelivery.objects.order_by("pk").first()
    WebhookDelivery.objects.filter(pk=first.pk).update(status="failed", last_error="HTTP 500")
    assert (
        as_dpo.get(f"{WEBHOOKS}{endpoint_id}/deliveries/?status=failed").json()["results"][0][
            "last_error"
        ]
        == "HTTP 500"
    )
    assert as_dpo.get(f"{WEBHOOKS}{endpoint_id}/deliveries/?status=odd").status_code == 400

    redeliver = f"{WEBHOOKS}{endpoint_id}/deliveries/{first.pk}/redeliver/"
    assert client_for(marketer).post(redeliver).status_code == 403
    response = as_dpo.post(redeliver)
    assert response.status_code == 201, response.content
    copy = response.json()
    assert (copy["status"], copy["redelivery_of"], copy["event_id"]) == (
        "pending",
        first.pk,
        first.event_id,
    )
    other = create(as_dpo).json()["id"]
    assert as_dpo.post(f"{WEBHOOKS}{other}/deliveries/{first.pk}/redeliver/").status_code == 404
