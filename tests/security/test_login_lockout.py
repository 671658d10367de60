"""Admin login brute-force protection (django-axes): AXES_FAILURE_LIMIT wrong passwords for one
username from one IP lock that pair out for the cool-off time, right password or not."""

from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.test import Client
from django.urls import reverse

ATTACKER = "203.0.113.66"
OFFICE = "198.51.100.10"


@pytest.fixture
def keeper(make_user):
    return make_user("keeper")  # staff, password "pw"


def login(client: Client, password: str, ip: str = ATTACKER, username: str = "keeper"):
    return client.post(
        reverse("admin:login"),
        {"username": username, "password": password, "next": reverse("admin:index")},
        REMOTE_ADDR=ip,
    )


def logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def fail_until_locked(client: Client) -> None:
    for attempt in range(settings.AXES_FAILURE_LIMIT):
        response = login(client, f"guess-{attempt}")
        assert not logged_in(client)
    assert response.status_code == 429  # the last failure locks the pair out


def test_the_attempt_after_the_limit_is_refused_even_with_the_right_password(keeper, client):
    assert settings.AXES_FAILURE_LIMIT == 5  # the default: the 6th attempt is refused
    assert login(client, "wrong").status_code == 200  # the login form, with an error
    for attempt in range(settings.AXES_FAILURE_LIMIT - 2):
        login(client, f"guess-{attempt}")
    assert login(client, "last guess").status_code == 429

    response = login(client, "pw")

    assert response.status_code == 429
    assert not logged_in(client)
    assert client.get(reverse("admin:index")).status_code == 302  # still sent to the login


def test_the_lockout_is_per_username_and_ip(keeper, make_user, client):
    make_user("colleague")
    fail_until_locked(client)
    assert login(Client(), "pw", ip=OFFICE).status_code == 302  # the same user elsewhere
    other = Client()
    assert login(other, "pw", ip=ATTACKER, username="colleague").status_code == 302


def test_the_lockout_ends_after_the_cool_off(keeper, client):
    fail_until_locked(client)
    with time_machine.travel(timedelta(hours=1, minutes=1)):
        response = login(client, "pw")
    assert response.status_code == 302
    assert logged_in(client)


def test_the_test_clients_logins_still_work(keeper, client):
    """force_login and login (which authenticates without a request) with axes enabled."""
    assert client.login(username="keeper", password="pw")
    assert client.get(reverse("admin:index")).status_code == 200
    client.logout()
    client.force_login(keeper)
    assert client.get(reverse("admin:index")).status_code == 200
