"""Plumbing shared by every endpoint: authentication, permissions, paging, error format."""

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from subjects.models import Account
from tests import factories

ENDPOINTS = [
    "/api/v1/accounts/",
    "/api/v1/leads/",
    "/api/v1/contacts/",
    "/api/v1/data-policies/",
    "/api/v1/data-consents/",
]


# ---------------------------------------------------------------------------------------------
# Authentication and permissions


@pytest.mark.parametrize("url", ENDPOINTS)
def test_unauthenticated_requests_are_refused(client_for, url):
    response = client_for(None).get(url)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Token"


def test_token_from_the_management_command_authenticates(db, dpo, contact, capsys):
    call_command("drf_create_token", "dpo")
    key = Token.objects.get(user=dpo).key
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    response = client.get("/api/v1/contacts/")
    assert response.status_code == 200
    assert [row["id"] for row in response.json()["results"]] == [contact.pk]
    client.credentials(HTTP_AUTHORIZATION="Token wrong")
    assert client.get("/api/v1/contacts/").status_code == 401


def test_session_authentication(client, dpo, contact):
    client.force_login(dpo)
    assert client.get(f"/api/v1/contacts/{contact.pk}/").json()["id"] == contact.pk


@pytest.mark.parametrize("url", ENDPOINTS)
def test_reading_needs_the_view_permission(client_for, make_user, url):
    assert client_for(make_user("nobody")).get(url).status_code == 403


def test_view_permission_alone_reads_but_cannot_write(client_for, make_user, contact):
    client = client_for(make_user("reader", perms=["subjects.view_contact"]))
    assert client.get(f"/api/v1/contacts/{contact.pk}/").status_code == 200
    assert client.post("/api/v1/contacts/", {"last_name": "X"}, format="json").status_code == 403
    url = f"/api/v1/contacts/{contact.pk}/"
    assert client.patch(url, {"last_name": "X"}, format="json").status_code == 403
    assert client.post(f"{url}deactivate/").status_code == 403
    assert client.get("/api/v1/leads/").status_code == 403


def test_lifecycle_actions_need_change_permission(client_for, make_user, contact):
    client = client_for(make_user("changer", perms=["subjects.change_contact"]))
    assert client.post(f"/api/v1/contacts/{contact.pk}/deactivate/").status_code == 200
    assert client.post(f"/api/v1/contacts/{contact.pk}/anonymize/").status_code == 403


def test_admin_user_can_do_everything(client_for, admin_user, contact):
    client = client_for(admin_user)
    assert client.post(f"/api/v1/contacts/{contact.pk}/anonymize/").status_code == 200


# ---------------------------------------------------------------------------------------------
# Error format


def test_malformed_json_is_a_400_with_a_message(as_dpo):
    response = as_dpo.post("/api/v1/leads/", data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert list(response.json()) == ["non_field_errors"]
    assert "JSON parse error" in response.json()["non_field_errors"][0]


def test_a_body_that_is_not_an_object_is_a_400(as_dpo):
    response = as_dpo.post("/api/v1/leads/", data=[1, 2], format="json")
    assert response.status_code == 400
    assert "non_field_errors" in response.json()


@pytest.mark.parametrize("pk", ["0", "abc", str(10**30)])
def test_unknown_or_malformed_ids_in_the_path_are_404(as_dpo, pk):
    assert as_dpo.get(f"/api/v1/contacts/{pk}/").status_code == 404
    assert as_dpo.post(f"/api/v1/leads/{pk}/qualify/").status_code == 404


@pytest.mark.parametrize(
    "params",
    [
        {"consent_level__gte": "1e999999999"},  # a Decimal would expand to a billion digits
        {"consent_level__lte": "9" * 5000},
        {"page": "9" * 5000},
        {"account": "9" * 5000},
    ],
)
def test_absurd_numbers_in_the_query_are_400(as_dpo, params):
    response = as_dpo.get("/api/v1/contacts/", params)
    assert response.status_code == 400
    assert list(response.json()) == list(params)


def test_absurd_ids_in_the_body_are_field_errors(as_dpo):
    response = as_dpo.post(
        "/api/v1/contacts/", {"last_name": "X", "account": "9" * 5000}, format="json"
    )
    assert response.status_code == 400
    assert list(response.json()) == ["account"]


# ---------------------------------------------------------------------------------------------
# Pagination


def _page(client, url, **params):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, params)
    assert response.status_code == 200, response.content
    assert not [q["sql"] for q in queries if "COUNT(" in q["sql"].upper()]
    return response.json()


def test_pages_link_to_each_other_without_counting(as_dpo):
    accounts = [Account.objects.create(name=f"Account {n:02}") for n in range(7)]
    first = _page(as_dpo, "/api/v1/accounts/", page_size=3)
    assert [row["id"] for row in first["results"]] == [a.pk for a in accounts[:3]]
    assert first["previous"] is None
    assert first["next"] == "http://testserver/api/v1/accounts/?page=2&page_size=3"
    second = _page(as_dpo, "/api/v1/accounts/", page_size=3, page=2)
    assert second["previous"] == "http://testserver/api/v1/accounts/?page_size=3"
    last = _page(as_dpo, "/api/v1/accounts/", page_size=3, page=3)
    assert [row["id"] for row in last["results"]] == [accounts[6].pk]
    assert last["next"] is None
    assert last["previous"].endswith("page=2&page_size=3")
    assert _page(as_dpo, "/api/v1/accounts/", page_size=3, page=9)["results"] == []


def test_page_size_defaults_to_50_and_is_capped_at_500(as_dpo):
    Account.objects.bulk_create(Account(name=f"A{n:03}") for n in range(501))
    assert len(_page(as_dpo, "/api/v1/accounts/")["results"]) == 50
    assert len(_page(as_dpo, "/api/v1/accounts/", page_size=10_000)["results"]) == 500


@pytest.mark.parametrize("params", [{"page": "0"}, {"page": "x"}, {"page_size": "-1"}])
def test_bad_page_parameters_are_400(as_dpo, params):
    response = as_dpo.get("/api/v1/accounts/", params)
    assert response.status_code == 400
    assert list(response.json()) == list(params)


# ---------------------------------------------------------------------------------------------
# Query counts: independent of the page size


@pytest.fixture
def populated(db, make_user):
    account = Account.objects.create(name="Acme")
    owner = make_user("owner")
    for _ in range(30):
        contact = factories.contact(account=account)
        factories.consent(subject=contact, user=owner)
        factories.lead()


@pytest.mark.parametrize(
    "url", ["/api/v1/contacts/", "/api/v1/leads/", "/api/v1/data-consents/", ENDPOINTS[3]]
)
@pytest.mark.parametrize("role", ["dpo", "marketer"])
def test_list_query_count_does_not_grow_with_the_page(
    request, client_for, populated, django_assert_max_num_queries, url, role
):
    client = client_for(request.getfixturevalue(role))
    with CaptureQueriesContext(connection) as small:
        assert len(client.get(url, {"page_size": 5}).json()["results"]) == 5
    with django_assert_max_num_queries(len(small)):
        response = client.get(url, {"page_size": 100})
    assert len(response.json()["results"]) == 30


def test_next_links_read_by_keyset_and_deep_page_numbers_are_refused(as_dpo, db):
    from tests import factories

    ids = sorted((factories.contact().pk for _ in range(7)), reverse=True)  # newest first
    first = as_dpo.get("/api/v1/contacts/", {"page_size": 3}).json()
    second = as_dpo.get(first["next"]).json()

    assert "after=" in first["next"], first
    assert "results" in second, second
    assert [row["id"] for row in second["results"]] == ids[3:6]
    back = as_dpo.get(second["previous"]).json()
    assert [row["id"] for row in back["results"]] == ids[:3]
    deep = as_dpo.get("/api/v1/contacts/", {"page": 19_000})
    assert deep.status_code == 400 and "next" in deep.json()["page"][0]


# ---------------------------------------------------------------------------------------------
# Date-time filters: an offset PostgreSQL cannot take is a 400, never a 500


@pytest.mark.parametrize(
    ("url", "param"),
    [
        ("/api/v1/leads/", "created_at__gte"),
        ("/api/v1/contacts/", "created_at__lte"),
        ("/api/v1/data-consents/", "given_at__gte"),
    ],
)
@pytest.mark.parametrize("offset", ["+16:00", "-20:30", "+23:59", "+99:00"])
def test_a_datetime_offset_beyond_1559_is_a_field_error(as_dpo, url, param, offset):
    factories.contact()
    response = as_dpo.get(url, {param: f"2024-01-01T00:00:00{offset}"})
    assert response.status_code == 400, response.content
    assert list(response.json()) == [param]


@pytest.mark.parametrize("offset", ["+15:59", "-12:00", "Z", ""])
def test_a_datetime_offset_the_database_takes_filters_in_utc(as_dpo, offset):
    contact = factories.contact()
    response = as_dpo.get("/api/v1/contacts/", {"created_at__gte": f"2000-01-01T00:00:00{offset}"})
    assert response.status_code == 200, response.content
    assert [row["id"] for row in response.json()["results"]] == [contact.pk]
    later = as_dpo.get("/api/v1/contacts/", {"created_at__gte": f"2999-01-01T00:00:00{offset}"})
    assert later.json()["results"] == []


# ---------------------------------------------------------------------------------------------
# Hostile bodies (issue 15 #10): deep JSON and oversized bodies answer a JSON 400, never a 500


def _write_routes():
    from tests.security.test_authorization import api_routes

    return [route for route in api_routes() if route.method in ("post", "put", "patch")]


@pytest.fixture
def as_root(client_for, admin_user):
    client = client_for(admin_user)
    client.raise_request_exception = False
    return client


def _send(client, route, body: str, content_type: str = "application/json"):
    return getattr(client, route.method)(route.url, body, content_type=content_type)


@pytest.mark.parametrize("depth", [40, 100_000])
def test_deeply_nested_json_is_a_json_400_on_every_write_route(as_root, depth):
    body = "[" * depth + "]" * depth
    for route in _write_routes():
        response = _send(as_root, route, body)
        assert response.status_code < 500, (str(route), response.status_code)
        assert response["Content-Type"] == "application/json", str(route)
        if not route.detail:  # detail routes may answer 404 for the unknown id first
            assert response.status_code == 400, str(route)


def test_json_nested_within_the_limit_is_parsed(as_root):
    body = '{"channel": "email", "value": "a@example.org", "purpose": [[[[1]]]]}'
    response = as_root.post("/api/v1/consent-checks/", body, content_type="application/json")
    assert response.status_code == 400
    assert "nested" not in response.content.decode()  # a field error, not a parse error


def test_an_oversized_body_is_a_json_400_on_every_write_route(as_root, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    body = '{"value": "' + "x" * 20_000 + '"}'
    for route in _write_routes():
        response = _send(as_root, route, body)
        assert response.status_code in (400, 404), (str(route), response.status_code)
        assert response["Content-Type"] == "application/json", str(route)
        if not route.detail:
            assert "too large" in response.json()["non_field_errors"][0], str(route)
