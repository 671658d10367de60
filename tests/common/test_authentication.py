"""API tokens remembered per process for API_TOKEN_CACHE_SECONDS (common.authentication)."""

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from common import authentication
from common.authentication import CachedTokenAuthentication
from consent.models import ComplianceProfile

CHECKS = "/api/v1/consent-checks/"
AUTH_TABLES = ("authtoken_token", "auth_permission", "auth_user")


@pytest.fixture(autouse=True)
def empty_cache():
    CachedTokenAuthentication.forget_all()
    yield
    CachedTokenAuthentication.forget_all()


@pytest.fixture
def clock(monkeypatch):
    """The cache's clock, moved by hand."""
    now = [1000.0]
    monkeypatch.setattr(authentication.time, "monotonic", lambda: now[0])
    return now


@pytest.fixture
def check(db):
    purpose = ComplianceProfile.objects.default().purposes.get(kind="commercial")
    return {"channel": "email", "value": "ada@example.org", "purpose": purpose.pk}


def auth_queries(client, body) -> tuple[int, list[str]]:
    with CaptureQueriesContext(connection) as captured:
        response = client.post(CHECKS, body, format="json")
    statements = [q["sql"] for q in captured.captured_queries]
    return response.status_code, [s for s in statements if any(t in s for t in AUTH_TABLES)]


def test_a_token_seen_recently_costs_no_query(mailer, check):
    status, first = auth_queries(mailer, check)
    assert status == 200
    assert len(first) == 3  # the token and its user; the user's and its groups' permissions
    status, again = auth_queries(mailer, check)
    assert (status, again) == (200, [])


def test_the_token_is_read_again_once_its_time_is_up(mailer, check, clock):
    auth_queries(mailer, check)
    clock[0] += 9.9
    assert auth_queries(mailer, check)[1] == []
    clock[0] += 0.2
    assert len(auth_queries(mailer, check)[1]) == 3


def test_a_deleted_token_stops_working_when_its_time_is_up(mailer, check, clock):
    assert auth_queries(mailer, check)[0] == 200
    Token.objects.all().delete()
    assert auth_queries(mailer, check)[0] == 200  # the documented price of the cache
    clock[0] += 10.1
    assert auth_queries(mailer, check)[0] == 401


def test_a_withdrawn_permission_is_refused_when_its_time_is_up(mailer, check, clock):
    assert auth_queries(mailer, check)[0] == 200
    Token.objects.get().user.user_permissions.clear()
    clock[0] += 10.1
    assert auth_queries(mailer, check)[0] == 403


def test_unknown_tokens_are_never_remembered(check):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)
    for _ in range(2):
        status, queries = auth_queries(client, check)
        assert (status, len(queries)) == (401, 1)


@override_settings(API_TOKEN_CACHE_SECONDS=0)
def test_zero_seconds_reads_the_token_on_every_request(mailer, check):
    for _ in range(2):
        assert len(auth_queries(mailer, check)[1]) == 3


def test_each_request_gets_its_own_user_with_the_permissions_loaded(mailer, check):
    key = Token.objects.get().key
    backend = CachedTokenAuthentication()
    first, token = backend.authenticate_credentials(key)
    with CaptureQueriesContext(connection) as captured:
        second, same_token = backend.authenticate_credentials(key)
        assert second.has_perm("consent.check_consent")
        assert not second.has_perm("consent.add_contactpointconsent")
    assert captured.captured_queries == []
    assert second is not first and second.pk == first.pk and same_token == token


def test_the_cache_stays_bounded(mailer, monkeypatch):
    monkeypatch.setattr(authentication, "MAX_ENTRIES", 2)
    key = Token.objects.get().key
    for fake in ("a", "b"):
        CachedTokenAuthentication._cache[fake] = (0.0, None, None)  # expired entries
    CachedTokenAuthentication().authenticate_credentials(key)
    assert list(CachedTokenAuthentication._cache) == [key]
