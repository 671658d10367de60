"""Outbound webhooks delivered by a real Celery worker on Redis (DESIGN §3.10) to a real
receiver on 127.0.0.1 that verifies every signature with the `standardwebhooks` library. The
receiver is killed mid-stream and comes back: nothing is lost and each address's changes
arrive in the order they were made."""

import pytest

from common.audit import Evidence
from config.celery import app as celery_app
from consent.models import WebhookDelivery, WebhookEndpoint
from consent.services.contact_points import contact_point_consent_set
from consent.services.webhooks import webhook_delivery_redeliver, webhook_endpoint_save
from tests import factories
from tests.jobs.conftest import wait_for
from tests.webhook_receiver import Receiver

ADDRESSES = [f"client{n}@example.org" for n in range(8)]


@pytest.fixture
def worker_queue(celery_worker):
    """Runs dispatched without a queue (as the outbox dispatches them) go to the worker's."""
    previous = celery_app.conf.task_default_queue
    celery_app.conf.task_default_queue = celery_worker
    yield celery_worker
    celery_app.conf.task_default_queue = previous


@pytest.fixture
def receiver():
    server = Receiver(secret="").start()
    yield server
    server.stop()


@pytest.fixture
def endpoint(worker_queue, receiver):
    endpoint = webhook_endpoint_save(
        endpoint=WebhookEndpoint(),
        data={"url": receiver.url, "events": ["contact_point_consent.changed"]},
    )
    receiver.secret = endpoint.secret
    return endpoint


def make_changes(purpose, rounds: range) -> None:
    for n in rounds:
        for value in ADDRESSES:
            contact_point_consent_set(
                channel="email",
                value=value,
                purpose=purpose,
                status="opted_in" if n % 2 == 0 else "opted_out",
                evidence=Evidence(source="api", reason=f"change {n}"),
            )


def first_receipts(receiver: Receiver) -> list[dict]:
    """What the receiver kept, deduplicated on webhook-id (at least once: a request cut by
    the kill may have arrived before the sender saw it fail)."""
    seen, bodies = set(), []
    for body in receiver.bodies():
        if body["_webhook_id"] not in seen:
            seen.add(body["_webhook_id"])
            bodies.append(body)
    return bodies


def test_receiver_killed_mid_stream_nothing_lost_order_kept_per_address(endpoint, receiver):
    purpose = factories.purpose(name="Commercial")
    make_changes(purpose, range(0, 10))
    assert wait_for(lambda: receiver.count() >= 20, timeout=60), "no delivery started"
    receiver.stop()  # killed mid-stream: listening socket and open connections cut
    make_changes(purpose, range(10, 20))  # changes keep coming while it is down
    assert wait_for(
        lambda: (
            WebhookDelivery.objects.filter(attempts__gt=1).exists()
            or WebhookDelivery.objects.exclude(last_error="").exists()
        ),
        timeout=30,
    ), "no attempt failed while the receiver was down"
    receiver.start()  # back, on the same port
    total = len(ADDRESSES) * 20
    assert wait_for(lambda: len(first_receipts(receiver)) >= total, timeout=120), (
        f"{len(first_receipts(receiver))} of {total} delivered"
    )
    assert receiver.rejected == []  # every signature verified
    assert not WebhookDelivery.objects.exclude(status="delivered").exists()
    received = first_receipts(receiver)
    expected = {d.event_id for d in WebhookDelivery.objects.all()}
    assert {body["id"] for body in received} == expected  # nothing lost
    for value in ADDRESSES:
        reasons = [b["data"]["reason"] for b in received if b["data"]["value"] == value]
        assert reasons == [f"change {n}" for n in range(20)], value  # in order per address


def test_redeliver_through_the_worker(endpoint, receiver):
    purpose = factories.purpose(name="Commercial")
    factories.cp_consent(value="redo@example.org", purpose_obj=purpose, status="opted_in")
    assert wait_for(lambda: receiver.count() == 1, timeout=60)
    webhook_delivery_redeliver(delivery=WebhookDelivery.objects.get())
    assert wait_for(lambda: receiver.count() == 2, timeout=60)
    first, second = receiver.bodies()
    assert first["_webhook_id"] == second["_webhook_id"]
