"""(w) Webhooks (DESIGN §7): 10,000 consent changes delivered by one Celery worker to a loopback
receiver within 60 s, none lost, in order per address.

Setup (untimed): a receiver on 127.0.0.1 (tests/webhook_receiver.py: a threaded http.server
that verifies every Standard Webhooks signature with the `standardwebhooks` library), an
endpoint, and one Celery worker (`--pool=solo`, one process) on Redis. Then 10,000
contact-point changes — 1,000 addresses × 10 alternating opt-ins and opt-outs — are made
through `contact_point_consent_set` in one transaction, so their outbox rows commit together.
Timed: from that commit until the receiver holds every event. Floor: the same 10,000 signed
bodies POSTed by a bare loop over one kept-alive connection (no database). Afterwards the
endpoint, its deliveries and the changed records with their history are deleted.

BENCH_WEBHOOK_CHANGES overrides the 10,000 (a small run to validate the figure).
"""

import http.client
import json
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction

from common.audit import Evidence
from consent.ledger.chain import ledger_release
from consent.models import ComplianceProfile, ContactPointConsent, WebhookDelivery, WebhookEndpoint
from consent.services.contact_points import contact_point_consent_set
from consent.webhooks.delivery import encode_body, signed_headers
from tests.bench.results import Figure, skipped
from tests.webhook_receiver import Receiver

NAME = "webhooks: {n:,} changes to a loopback receiver, one worker"
BAR_SECONDS = 60.0
BAR = "≤ 60 s; none lost; in order per address"
CHANGES_PER_ADDRESS = 10
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
REPO = Path(__file__).resolve().parents[2]


def figures() -> list[Figure]:
    changes = int(os.environ.get("BENCH_WEBHOOK_CHANGES", "10000"))
    name = NAME.format(n=changes)
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except Exception as exc:  # no Redis: no worker
        return [skipped(name, BAR, f"Redis not reachable at {REDIS_URL}: {exc}")]
    receiver = Receiver(secret="").start()
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True  # the endpoint is on 127.0.0.1
    endpoint = WebhookEndpoint.objects.create(
        url=receiver.url, events=["contact_point_consent.changed"], description="bench"
    )
    receiver.secret = endpoint.secret
    queue = f"bench-webhooks-{uuid.uuid4().hex[:8]}"
    worker = None
    values: list[str] = []
    try:  # the endpoint is deleted whatever happens: left behind, every later write feeds it
        worker = _start_worker(queue)
        values = _make_changes(changes, queue)
        started = time.perf_counter()
        done = _wait(lambda: _distinct(receiver) >= changes, timeout=BAR_SECONDS * 3)
        elapsed = time.perf_counter() - started
        lost, disordered = _check(receiver, endpoint)
        floor = _floor(endpoint)
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=30)
        receiver.stop()
        _clean_up(endpoint, values)
    passed = done and elapsed <= BAR_SECONDS and lost == 0 and disordered == 0
    note = f"lost {lost}, out of order {disordered}, duplicates {receiver.count() - changes}"
    return [Figure(name, elapsed, floor, BAR, passed, unit="s", note=note)]


def _start_worker(queue: str) -> subprocess.Popen:
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    url = f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "false",
        "SECRET_KEY": settings.SECRET_KEY,
        "SUPPRESSION_HASH_KEY": settings.SUPPRESSION_HASH_KEY,
        "DATABASE_URL": url,
        "CELERY_BROKER_URL": REDIS_URL,
        "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
        "EMAIL_URL": os.environ.get("EMAIL_URL", "dummymail://"),  # required in production
        "SECURE_SSL_REDIRECT": "false",
        "LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo"]
    command += ["-Q", queue, "-n", f"{queue}@%h", "--loglevel=WARNING"]
    worker = subprocess.Popen(command, cwd=REPO, env=env)
    from config.celery import app

    app.conf.update(broker_url=REDIS_URL, task_always_eager=False, task_default_queue=queue)
    app._pool = None
    app.amqp._producer_pool = None
    if not _wait(lambda: _worker_ready(app, queue), timeout=60):
        worker.terminate()
        raise RuntimeError("the benchmark's Celery worker did not start")
    return worker


def _worker_ready(app, queue: str) -> bool:
    replies = app.control.ping(timeout=1)
    return any(name.startswith(f"{queue}@") for reply in replies for name in reply)


def _make_changes(changes: int, queue: str) -> list[str]:
    purpose = ComplianceProfile.objects.default().purposes.get(kind="commercial")
    addresses = max(changes // CHANGES_PER_ADDRESS, 1)
    values = [f"webhook-bench-{n}@example.org" for n in range(addresses)]
    with transaction.atomic():
        for round_ in range(CHANGES_PER_ADDRESS):
            for value in values:
                contact_point_consent_set(
                    channel="email",
                    value=value,
                    purpose=purpose,
                    status="opted_in" if round_ % 2 == 0 else "opted_out",
                    evidence=Evidence(source="api", reason=f"bench {round_}"),
                )
    return values


def _distinct(receiver: Receiver) -> int:
    return len({body["_webhook_id"] for body in receiver.bodies()})


def _check(receiver: Receiver, endpoint: WebhookEndpoint) -> tuple[int, int]:
    """(events never received, addresses whose events arrived out of order)."""
    seen, arrived = set(), {}
    for body in receiver.bodies():
        if body["_webhook_id"] in seen:
            continue
        seen.add(body["_webhook_id"])
        arrived.setdefault(body["data"]["value"], []).append(body["id"])
    expected = {}
    for event_id, value in (
        WebhookDelivery.objects.filter(endpoint=endpoint)
        .order_by("pk")
        .values_list("event_id", "data__value")
    ):
        expected.setdefault(value, []).append(event_id)
    lost = sum(len(set(ids) - seen) for ids in expected.values())
    disordered = sum(1 for value, ids in expected.items() if arrived.get(value) != ids)
    return lost, disordered


def _floor(endpoint: WebhookEndpoint) -> float:
    """The same signed bodies POSTed by a bare loop over one kept-alive connection."""
    floor_receiver = Receiver(secret=endpoint.secret).start()
    deliveries = list(WebhookDelivery.objects.filter(endpoint=endpoint).order_by("pk"))
    bodies = [(d.event_id, encode_body(d)) for d in deliveries]
    conn = http.client.HTTPConnection("127.0.0.1", floor_receiver.port)
    try:
        started = time.perf_counter()
        for event_id, body in bodies:
            headers = signed_headers(
                secret=endpoint.secret, event_id=event_id, body=body, at=datetime.now(UTC)
            )
            conn.request("POST", "/hooks", body=body.encode(), headers=headers)
            conn.getresponse().read()
        return time.perf_counter() - started
    finally:
        conn.close()
        floor_receiver.stop()


def _wait(predicate, *, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def _clean_up(endpoint: WebhookEndpoint, values: list[str]) -> None:
    """Remove the benchmark's records and their history as erasure does: the ledger is told
    which sealed rows go (erase entries), or the next verification finds them deleted out of
    band — as it did when this deleted them directly."""
    endpoint.delete()  # its deliveries with it
    for start in range(0, len(values), 1000):
        chunk = values[start : start + 1000]
        with transaction.atomic():
            ContactPointConsent.objects.filter(channel="email", value__in=chunk).delete()
            history = ContactPointConsent.history.filter(channel="email", value__in=chunk)
            ledger_release(
                history_model=history.model,
                history_ids=history.values_list("history_id", flat=True),
            )
            history.delete()


if __name__ == "__main__":  # pragma: no cover
    print(json.dumps([f.as_dict() for f in figures()], indent=2))
