"""SSRF protection (consent/webhooks/targets.py): without WEBHOOK_ALLOW_PRIVATE_TARGETS only
https URLs on public addresses are accepted, at save and again at delivery."""

import socket

import pytest
from django.core.exceptions import ValidationError

from consent.models import WebhookEndpoint
from consent.services.webhooks import webhook_endpoint_save
from consent.webhooks.targets import TargetRefused, target_resolve


@pytest.fixture
def strict(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False


def save(url: str) -> WebhookEndpoint:
    return webhook_endpoint_save(
        endpoint=WebhookEndpoint(), data={"url": url, "events": ["subject.anonymized"]}
    )


def _loopback_hostname() -> str:
    name = socket.gethostname()
    addresses = {info[4][0] for info in socket.getaddrinfo(name, 443)}
    if not all(a.startswith("127.") or a == "::1" for a in addresses):
        pytest.skip(f"{name} does not resolve to a loopback address here")
    return name


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://93.184.215.14/hooks", "Only https"),
        ("https://10.0.0.1/hooks", "private or local address (10.0.0.1)"),
        ("https://192.168.1.20/hooks", "private or local"),
        ("https://169.254.169.254/latest/meta-data", "private or local"),
        ("https://127.0.0.1:8443/hooks", "private or local"),
        ("https://[::1]/hooks", "private or local"),
        ("https://[::ffff:10.0.0.1]/hooks", "private or local"),
        ("https://localhost/hooks", "private or local"),
        ("ftp://example.org/", "Only https"),
        ("https:///nohost", "no host"),
    ],
)
def test_private_targets_and_plain_http_are_refused_at_save(db, strict, url, message):
    with pytest.raises(ValidationError) as caught:
        save(url)
    assert message in caught.value.message_dict["url"][0]
    assert WebhookEndpoint.objects.count() == 0


def test_a_hostname_resolving_to_loopback_is_refused(db, strict):
    name = _loopback_hostname()
    with pytest.raises(ValidationError) as caught:
        save(f"https://{name}/hooks")
    assert "private or local address (127." in caught.value.message_dict["url"][0]


def test_a_public_address_is_accepted_and_connected_to_as_resolved(strict):
    target = target_resolve("https://93.184.215.14:8443/in?x=1")
    assert (target.scheme, target.address, target.port, target.path) == (
        "https",
        "93.184.215.14",
        8443,
        "/in?x=1",
    )
    assert target.host_header == "93.184.215.14:8443"


def test_the_setting_allows_http_and_loopback(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    assert target_resolve("http://127.0.0.1:9000/x").address == "127.0.0.1"
    with pytest.raises(TargetRefused):
        target_resolve("ftp://127.0.0.1/")


def test_unknown_event_types_and_bad_secrets_are_field_errors(db):
    with pytest.raises(ValidationError) as caught:
        webhook_endpoint_save(
            endpoint=WebhookEndpoint(),
            data={"url": "http://127.0.0.1:1/", "events": ["lead.created"], "secret": "x"},
        )
    assert set(caught.value.message_dict) == {"events", "secret"}
