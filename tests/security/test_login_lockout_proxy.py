"""The admin login lockout behind a reverse proxy: django-axes identifies the client by the same
IP as the public forms' rate limit (`preference_center.views.client_ip`, which reads the trusted
PREFERENCE_CLIENT_IP_HEADER), not by the proxy's REMOTE_ADDR."""

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.test import Client
from django.urls import reverse

PROXY = "10.0.0.2"
ATTACKER = "203.0.113.66"
OFFICE = "198.51.100.10"


@pytest.fixture
def behind_proxy(settings):
    settings.PREFERENCE_CLIENT_IP_HEADER = "HTTP_X_FORWARDED_FOR"


@pytest.fixture
def keeper(make_user):
    return make_user("keeper")  # staff, password "pw"


def login(client: Client, password: str, *, forwarded_for: str, username: str = "keeper"):
    """A login relayed by the proxy: REMOTE_ADDR is always the proxy's."""
    return client.post(
        reverse("admin:login"),
        {"username": username, "password": password, "next": reverse("admin:index")},
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR=forwarded_for,
    )


def lock_out(client: Client, forwarded_for: str = ATTACKER) -> None:
    for attempt in range(settings.AXES_FAILURE_LIMIT):
        response = login(client, f"guess-{attempt}", forwarded_for=forwarded_for)
    assert response.status_code == 429


def test_axes_uses_the_preference_center_client_ip():
    assert settings.AXES_CLIENT_IP_CALLABLE == "preference_center.views.client_ip"


def test_the_lockout_is_recorded_for_the_client_ip_not_the_proxy(behind_proxy, keeper, client):
    lock_out(client)
    attempt = AccessAttempt.objects.get(username="keeper")
    assert attempt.ip_address == ATTACKER
    assert login(client, "pw", forwarded_for=ATTACKER).status_code == 429


def test_a_locked_out_attacker_does_not_lock_out_the_same_user_elsewhere(
    behind_proxy, keeper, client
):
    lock_out(client)
    office = Client()
    assert login(office, "pw", forwarded_for=OFFICE).status_code == 302
    assert "_auth_user_id" in office.session


def test_a_spoofed_forwarded_for_entry_does_not_escape_the_lockout(behind_proxy, keeper, client):
    """The proxy appends the real client address; only the last entry is trusted."""
    lock_out(client)
    spoofed = f"{OFFICE}, {ATTACKER}"
    assert login(Client(), "pw", forwarded_for=spoofed).status_code == 429


def test_without_the_proxy_header_setting_the_forwarded_for_header_is_ignored(keeper, client):
    """Not behind a proxy: a client-sent X-Forwarded-For must not pick the locked-out IP."""
    assert settings.PREFERENCE_CLIENT_IP_HEADER == ""
    lock_out(client, forwarded_for=ATTACKER)
    attempt = AccessAttempt.objects.get(username="keeper")
    assert attempt.ip_address == PROXY  # REMOTE_ADDR: the only address not sent by the client
    assert login(Client(), "pw", forwarded_for=OFFICE).status_code == 429
