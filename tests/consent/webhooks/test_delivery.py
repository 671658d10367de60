"""Delivering the outbox (consent/webhooks/delivery.py) to a real receiver on 127.0.0.1, which
verifies every signature with the `standardwebhooks` library."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from consent.models import WebhookDelivery, WebhookEndpoint
from consent.services.webhooks import webhook_delivery_redeliver, webhook_endpoint_save
from consent.webhooks.delivery import endpoint_drain, retry_delay, signed_headers
from tests import factories
from tests.webhook_receiver import Receiver


@pytest.fixture
def receiver():
    server = Receiver(secret="").start()
    yield server
    server.stop()


@pytest.fixture
def endpoint(db, receiver):
    endpoint = webhook_endpoint_save(
        endpoint=WebhookEndpoint(),
        data={"url": receiver.url, "events": ["contact_point_consent.changed"]},
    )
    receiver.secret = endpoint.secret
    return endpoint


@pytest.fixture
def commercial(db):
    return factories.purpose(name="Commercial")


def change(purpose, value, status):
    return factories.cp_consent(value=value, purpose_obj=purpose, status=status)


def test_a_delivery_is_signed_per_standard_webhooks_and_logged(endpoint, receiver, commercial):
    change(commercial, "a@example.org", "opted_in")
    result = endpoint_drain(endpoint_id=endpoint.pk)
    assert result.delivered == 1 and receiver.rejected == []
    (body,) = receiver.bodies()
    delivery = WebhookDelivery.objects.get()
    assert body["_webhook_id"] == delivery.event_id == body["id"]
    assert body["type"] == "contact_point_consent.changed"
    assert body["data"]["value"] == "a@example.org"
    assert (delivery.status, delivery.attempts, delivery.response_code) == ("delivered", 1, 204)
    assert delivery.delivered_at is not None


def test_a_wrong_secret_fails_verification_at_the_receiver(endpoint, receiver, commercial):
    receiver.secret = "whsec_" + "QUJD" * 8  # another key
    change(commercial, "a@example.org", "opted_in")
    result = endpoint_drain(endpoint_id=endpoint.pk)
    assert result.failed == 1 and receiver.received == []
    assert receiver.rejected == ["No matching signature found"]
    assert WebhookDelivery.objects.get().response_code == 400


def test_signed_headers_are_the_spec_format():
    from datetime import UTC, datetime

    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    headers = signed_headers(secret="whsec_" + "QUJD" * 8, event_id="msg_1", body="{}", at=at)
    assert headers["webhook-id"] == "msg_1"
    assert headers["webhook-timestamp"] == str(int(at.timestamp()))
    version, signature = headers["webhook-signature"].split(",")
    assert version == "v1" and len(signature) == 44  # base64 of 32 bytes


def test_a_failed_head_holds_back_its_address_but_not_the_others(endpoint, receiver, commercial):
    receiver.status = 503
    change(commercial, "first@example.org", "opted_in")
    change(commercial, "first@example.org", "opted_out")
    result = endpoint_drain(endpoint_id=endpoint.pk)
    assert (result.delivered, result.failed) == (0, 1)  # only the head was tried
    head, second = WebhookDelivery.objects.order_by("pk")
    assert (head.attempts, second.attempts) == (1, 0)
    assert head.last_error.startswith("HTTP 503")
    assert head.next_attempt_at > timezone.now()
    assert result.next_attempt_at == head.next_attempt_at

    receiver.status = 204
    change(commercial, "other@example.org", "opted_in")
    assert endpoint_drain(endpoint_id=endpoint.pk).delivered == 1  # another address goes on
    with time_machine.travel(head.next_attempt_at + timedelta(seconds=1)):
        assert endpoint_drain(endpoint_id=endpoint.pk).delivered == 2
    values = [(b["data"]["value"], b["data"]["status"]) for b in receiver.bodies()]
    assert values == [
        ("other@example.org", "opted_in"),
        ("first@example.org", "opted_in"),
        ("first@example.org", "opted_out"),
    ]


def test_retries_back_off_exponentially_and_give_up_after_24_hours(
    endpoint, receiver, commercial, settings
):
    assert [retry_delay(n).total_seconds() for n in (1, 2, 3, 4)] == [5, 10, 20, 40]
    assert retry_delay(40).total_seconds() == settings.WEBHOOK_RETRY_MAX_SECONDS
    receiver.stop()  # nobody listens
    change(commercial, "late@example.org", "opted_in")
    change(commercial, "late@example.org", "opted_out")
    head = WebhookDelivery.objects.order_by("pk").first()
    # The 11th attempt, a minute before the 24 hours end: its retry would come after them.
    with time_machine.travel(head.created_at + timedelta(hours=23, minutes=59)):
        WebhookDelivery.objects.filter(pk=head.pk).update(
            next_attempt_at=timezone.now(), attempts=10
        )
        result = endpoint_drain(endpoint_id=endpoint.pk)
    head.refresh_from_db()
    assert head.status == "failed" and head.last_error  # connection refused
    # Given up, the head no longer holds back the address's next delivery: tried at once.
    assert (result.given_up, result.failed) == (1, 1)
    receiver.start()
    with time_machine.travel(result.next_attempt_at + timedelta(seconds=1)):
        assert endpoint_drain(endpoint_id=endpoint.pk).delivered == 1
    assert receiver.bodies()[0]["data"]["status"] == "opted_out"


def test_redeliver_sends_the_same_webhook_id_again(endpoint, receiver, commercial):
    change(commercial, "again@example.org", "opted_in")
    endpoint_drain(endpoint_id=endpoint.pk)
    original = WebhookDelivery.objects.get()
    copy = webhook_delivery_redeliver(delivery=original)
    assert (copy.status, copy.redelivery_of) == ("pending", original)
    endpoint_drain(endpoint_id=endpoint.pk)
    first, second = receiver.bodies()
    assert first["_webhook_id"] == second["_webhook_id"] == original.event_id
    assert first["data"] == second["data"]


def test_an_inactive_endpoint_is_not_delivered_to(endpoint, receiver, commercial):
    change(commercial, "x@example.org", "opted_in")
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(active=False)
    assert endpoint_drain(endpoint_id=endpoint.pk).delivered == 0
    assert receiver.bodies() == []


def test_a_target_that_became_private_is_refused_at_delivery_time(
    endpoint, receiver, commercial, settings
):
    """Saved while allowed (or resolving elsewhere), checked again before sending."""
    change(commercial, "y@example.org", "opted_in")
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    result = endpoint_drain(endpoint_id=endpoint.pk)
    assert result.failed == 1 and receiver.bodies() == []
    assert WebhookDelivery.objects.get().last_error.startswith("Target refused")


def test_a_run_stops_sending_before_its_claim_expires(endpoint, receiver, commercial, settings):
    """A slow receiver: the run releases what it could not send in time, for the next run."""
    # A lease (2 × timeout + 30 s) too short for even one more send: nothing goes out on it.
    settings.WEBHOOK_TIMEOUT_SECONDS = -34.9
    for n in range(3):
        change(commercial, f"slow{n}@example.org", "opted_in")
    result = endpoint_drain(endpoint_id=endpoint.pk, max_seconds=0)
    assert result.delivered == 0 and receiver.bodies() == []
    assert not WebhookDelivery.objects.exclude(claim_token="").exists()  # released
    settings.WEBHOOK_TIMEOUT_SECONDS = 10
    assert endpoint_drain(endpoint_id=endpoint.pk).delivered == 3
