"""Delivering the outbox: signed POSTs, retried with exponential backoff for 24 hours, in order
per (endpoint, address key).

A run (`endpoint_drain`) repeatedly claims the *heads* — for each address key, its oldest
pending delivery, if due — with a short lease, sends them, and records each outcome. A key whose
head failed waits for the head's retry, so a later change of an address never overtakes an
earlier one; other keys go on. Claims are conditional UPDATEs, so concurrent runs (on any
database) never send the same head twice, and no transaction is held open while a receiver
answers. A run that dies leaves its claims to expire: the rows go out again (at least once;
receivers dedupe on `webhook-id`).
"""

import http.client
import json
import ssl
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from time import monotonic

from django.conf import settings
from django.db.models import F, Min, Q
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from consent.models import WebhookDelivery, WebhookEndpoint
from consent.webhooks.targets import Target, TargetRefused, target_resolve

Status = WebhookDelivery.Status
CLAIM_BATCH = 500
USER_AGENT = "consent-crm-webhooks/1"
MAX_RESPONSE_BYTES = 64 * 1024  # of a receiver's answer; a longer one closes the connection
_RECORDED_FIELDS = [
    "status",
    "attempts",
    "next_attempt_at",
    "claimed_until",
    "claim_token",
    "last_attempt_at",
    "delivered_at",
    "response_code",
    "last_error",
]


@dataclass
class DrainResult:
    delivered: int = 0
    failed: int = 0
    given_up: int = 0
    more: bool = False  # stopped at the time budget with due deliveries left
    next_attempt_at: datetime | None = None  # the earliest retry still pending

    def as_dict(self) -> dict:
        return {
            "delivered": self.delivered,
            "failed": self.failed,
            "given_up": self.given_up,
            "more": self.more,
            "next_attempt_at": self.next_attempt_at.isoformat() if self.next_attempt_at else None,
        }


@dataclass
class Outcome:
    ok: bool
    response_code: int | None = None
    error: str = ""


def retry_delay(attempts: int) -> timedelta:
    """Exponential backoff after the `attempts`-th failure: base × 2^(n-1), capped."""
    base = settings.WEBHOOK_RETRY_BASE_SECONDS
    seconds = min(base * 2 ** min(attempts - 1, 30), settings.WEBHOOK_RETRY_MAX_SECONDS)
    return timedelta(seconds=seconds)


def endpoint_drain(*, endpoint_id: int, max_seconds: float | None = None) -> DrainResult:
    """Deliver what is due for one endpoint, for at most `max_seconds`."""
    result = DrainResult()
    endpoint = WebhookEndpoint.objects.filter(pk=endpoint_id, active=True).first()
    if endpoint is None:
        return result
    budget = settings.WEBHOOK_RUN_SECONDS if max_seconds is None else max_seconds
    deadline = monotonic() + budget
    sender = Sender(endpoint)
    try:
        while batch := _claim_heads(endpoint):
            claimed, sent = monotonic(), []
            for delivery in batch:
                # Never send on a claim about to expire (another run could take the row).
                if monotonic() - claimed > _lease_seconds() - settings.WEBHOOK_TIMEOUT_SECONDS - 5:
                    break
                _record(delivery, sender.send(delivery), result)
                sent.append(delivery)
            _save_outcomes(sent)
            _release(batch[len(sent) :])
            if monotonic() >= deadline:
                result.more = True
                break
    finally:
        sender.close()
    if not result.more:
        result.next_attempt_at = _next_retry(endpoint)
    return result


def _claim_heads(endpoint: WebhookEndpoint) -> list[WebhookDelivery]:
    now = timezone.now()
    unclaimed = Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    # The oldest pending delivery of each address key: one GROUP BY over the endpoint's
    # pending rows (an index-only scan), whatever statistics the planner has — an anti-join
    # ("no older pending row with this key") is planned badly on a freshly filled outbox.
    oldest = (
        WebhookDelivery.objects.pending()
        .filter(endpoint_id=endpoint.pk)
        .values("address_key")
        .annotate(oldest=Min("pk"))
        .values("oldest")
    )
    heads = list(
        WebhookDelivery.objects.filter(pk__in=oldest, next_attempt_at__lte=now)
        .filter(unclaimed)
        .order_by("pk")
        .values_list("pk", flat=True)[:CLAIM_BATCH]
    )
    if not heads:
        return []
    token = uuid.uuid4().hex
    lease = timedelta(seconds=_lease_seconds())
    # Conditional: a head another run claimed (or delivered) meanwhile is not taken again.
    WebhookDelivery.objects.pending().filter(pk__in=heads).filter(unclaimed).update(
        claimed_until=now + lease, claim_token=token
    )
    return list(
        WebhookDelivery.objects.filter(pk__in=heads, claim_token=token)
        .select_related(None)
        .order_by("pk")
    )


def _record(delivery: WebhookDelivery, outcome: Outcome, result: DrainResult) -> None:
    now = timezone.now()
    delivery.attempts += 1
    delivery.last_attempt_at = now
    delivery.response_code = outcome.response_code
    delivery.claimed_until, delivery.claim_token = None, ""
    if outcome.ok:
        delivery.status = Status.DELIVERED
        delivery.delivered_at = now
        delivery.last_error = ""
        result.delivered += 1
        return
    delivery.last_error = outcome.error[:2000]
    retry_at = now + retry_delay(delivery.attempts)
    window = timedelta(hours=settings.WEBHOOK_RETRY_HOURS)
    if retry_at > delivery.created_at + window:
        delivery.status = Status.FAILED  # given up: the key's next delivery may go now
        result.given_up += 1
    else:
        delivery.next_attempt_at = retry_at
        result.failed += 1


def _lease_seconds() -> float:
    return settings.WEBHOOK_TIMEOUT_SECONDS * 2 + 30


def _release(unsent: list[WebhookDelivery]) -> None:
    if unsent:
        WebhookDelivery.objects.filter(pk__in=[d.pk for d in unsent]).update(
            claimed_until=None, claim_token=""
        )


def _save_outcomes(batch: list[WebhookDelivery]) -> None:
    """One UPDATE for the delivered rows of a batch (per response code), one per failure: a
    bulk_update of every field of every row costs more than the sends themselves."""
    delivered: dict[int | None, list[WebhookDelivery]] = {}
    for delivery in batch:
        if delivery.status == Status.DELIVERED:
            delivered.setdefault(delivery.response_code, []).append(delivery)
        else:
            fields = {name: getattr(delivery, name) for name in _RECORDED_FIELDS}
            WebhookDelivery.objects.filter(pk=delivery.pk).update(**fields)
    for code, rows in delivered.items():
        WebhookDelivery.objects.filter(pk__in=[row.pk for row in rows]).update(
            status=Status.DELIVERED,
            attempts=F("attempts") + 1,
            last_attempt_at=rows[-1].last_attempt_at,
            delivered_at=rows[-1].delivered_at,
            response_code=code,
            last_error="",
            claimed_until=None,
            claim_token="",
        )


def _next_retry(endpoint: WebhookEndpoint) -> datetime | None:
    """When the earliest failed head is due again. Rows queued behind a head keep their
    creation time (they wait for the head, not for a clock), and due heads that another run
    claimed are that run's: only future retries count."""
    return (
        WebhookDelivery.objects.pending()
        .filter(endpoint_id=endpoint.pk, next_attempt_at__gt=timezone.now())
        .order_by("next_attempt_at")
        .values_list("next_attempt_at", flat=True)
        .first()
    )


def endpoints_due(*, now: datetime | None = None) -> list[int]:
    """Endpoints with a pending delivery that is due (the periodic sweep's safety net)."""
    now = now or timezone.now()
    return sorted(
        set(
            WebhookDelivery.objects.pending()
            .filter(next_attempt_at__lte=now, endpoint__active=True)
            .values_list("endpoint_id", flat=True)
            .distinct()
        )
    )


# ---------------------------------------------------------------------------------------------
# Sending


def signed_headers(*, secret: str, event_id: str, body: str, at: datetime) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt (`webhook-signature: v1,<base64>`)."""
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(event_id, at, body),
    }


def encode_body(delivery: WebhookDelivery) -> str:
    return json.dumps(delivery.body, separators=(",", ":"), ensure_ascii=False)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """TLS to a vetted IP address, with the certificate checked against the URL's host name
    (SNI and hostname verification use the name, the TCP connection the address)."""

    def __init__(self, address: str, port: int, *, server_hostname: str, timeout: float):
        super().__init__(address, port, timeout=timeout, context=ssl.create_default_context())
        self.server_hostname = server_hostname

    def connect(self) -> None:
        http.client.HTTPConnection.connect(self)
        self.sock = self._context.wrap_socket(self.sock, server_hostname=self.server_hostname)


class Sender:
    """POSTs to one endpoint over a kept-alive connection to its vetted address."""

    def __init__(self, endpoint: WebhookEndpoint):
        self.endpoint = endpoint
        self.webhook = Webhook(endpoint.secret)
        self._target: Target | None = None
        self._connection: http.client.HTTPConnection | None = None

    def _connect(self) -> tuple[Target, http.client.HTTPConnection]:
        if self._connection is None:
            # Resolved and checked once per connection; it goes to that very address.
            target = target_resolve(self.endpoint.url)
            timeout = settings.WEBHOOK_TIMEOUT_SECONDS
            if target.scheme == "https":
                self._connection = _PinnedHTTPSConnection(
                    target.address, target.port, server_hostname=target.host, timeout=timeout
                )
            else:
                self._connection = http.client.HTTPConnection(
                    target.address, target.port, timeout=timeout
                )
            self._target = target
        return self._target, self._connection

    def send(self, delivery: WebhookDelivery) -> Outcome:
        try:
            target, connection = self._connect()
        except TargetRefused as exc:
            return Outcome(False, error=f"Target refused: {exc}")
        body = encode_body(delivery)
        at = datetime.now(UTC)
        headers = {
            "Host": target.host_header,
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "webhook-id": delivery.event_id,
            "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": self.webhook.sign(delivery.event_id, at, body),
        }
        try:
            # Headers and body in one write (http.client joins a bytes body to the headers).
            connection.request("POST", target.path, body=body.encode(), headers=headers)
            response = connection.getresponse()
            text = response.read(MAX_RESPONSE_BYTES)
            if response.will_close or not response.isclosed():
                self.close()  # closing, or a longer body than we read: a new connection next
        except (OSError, http.client.HTTPException) as exc:
            self.close()  # a fresh connection (and a fresh check) for the next attempt
            return Outcome(False, error=f"{type(exc).__name__}: {exc}")
        if 200 <= response.status < 300:
            return Outcome(True, response.status)
        message = text[:300].decode("utf-8", "replace")
        return Outcome(False, response.status, f"HTTP {response.status}: {message}")

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
        self._connection = self._target = None
