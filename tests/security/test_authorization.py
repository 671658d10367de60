"""Who may open what: every admin changelist / add page and every API route, for each role and
for no login. The expectations come from `consent.roles.ROLE_PERMISSIONS` and Django's
permission model (view / add / change / delete, plus the permissions a viewset declares for its
own actions), never from a second copy of the rules; new admin classes and new router entries
are covered as soon as they are registered."""

import re
from dataclasses import dataclass

import pytest
from django.contrib import admin
from django.test import RequestFactory
from django.urls import reverse
from rest_framework.test import APIClient

from common.api import ModelPermissions
from config.api_urls import router
from consent.roles import ROLE_PERMISSIONS

UNKNOWN_ID = 987654321  # detail routes: allowed -> 404, refused -> 403, nothing is touched
ROLES = sorted(ROLE_PERMISSIONS)
CHECK_ONLY = "consent.check_consent"


def _perm(model, action: str) -> str:
    return f"{model._meta.app_label}.{action}_{model._meta.model_name}"


# ---------------------------------------------------------------------------------------------
# Admin


def admin_pages():
    """(model, model admin) of every registered admin."""
    return sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)


def _admin_url(model, page: str) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{page}")


def _offers_add(model_admin, superuser) -> bool:
    """Whether the admin has an add page at all (some never do: erasure records, ...)."""
    request = RequestFactory().get("/")
    request.user = superuser
    return model_admin.has_add_permission(request)


def expected_admin(perms: set[str], model, model_admin, superuser) -> dict[str, bool]:
    return {
        "changelist": bool({_perm(model, "view"), _perm(model, "change")} & perms),
        "add": _perm(model, "add") in perms and _offers_add(model_admin, superuser),
    }


def _admin_status(client, url: str) -> int:
    return client.get(url).status_code


@pytest.mark.parametrize("role", ROLES)
def test_admin_pages_open_exactly_for_the_roles_permissions(role, make_user, admin_user, client):
    client.force_login(make_user(role.lower().replace(" ", "_"), role=role))
    perms = set(ROLE_PERMISSIONS[role])
    for model, model_admin in admin_pages():
        expected = expected_admin(perms, model, model_admin, admin_user)
        for page, allowed in expected.items():
            status = _admin_status(client, _admin_url(model, page))
            assert status == (200 if allowed else 403), (role, model._meta.label, page)


def test_the_admin_sends_anonymous_visitors_to_the_login_page(client, db):
    login = reverse("admin:login")
    for model, _ in admin_pages():
        for page in ("changelist", "add"):
            response = client.get(_admin_url(model, page))
            assert response.status_code == 302, (model._meta.label, page)
            assert response["Location"].startswith(login), (model._meta.label, page)


def test_a_superuser_opens_every_changelist_and_offered_add_page(admin_user, client):
    """The control for the matrix: every page it expects to open does work."""
    client.force_login(admin_user)
    for model, model_admin in admin_pages():
        assert _admin_status(client, _admin_url(model, "changelist")) == 200, model
        if _offers_add(model_admin, admin_user):
            assert _admin_status(client, _admin_url(model, "add")) == 200, model


# ---------------------------------------------------------------------------------------------
# API

STANDARD_ROUTES = [
    # action, HTTP method, detail route
    ("list", "get", False),
    ("create", "post", False),
    ("retrieve", "get", True),
    ("update", "put", True),
    ("partial_update", "patch", True),
    ("destroy", "delete", True),
]


@dataclass(frozen=True)
class Route:
    prefix: str
    action: str
    method: str
    url: str
    detail: bool
    required: frozenset[str]

    def __str__(self):
        return f"{self.method.upper()} {self.url} ({self.action})"


def _model(viewset):
    queryset = getattr(viewset, "queryset", None)
    return queryset.model if queryset is not None else viewset.serializer_class.Meta.model


def _required(viewset, action: str, method: str) -> frozenset[str]:
    """What common.api.ModelPermissions asks for: the viewset's declared action permissions,
    else Django's model permission for the HTTP method."""
    opts = _model(viewset)._meta
    declared = getattr(viewset, "action_permissions", {}).get(action)
    perms = declared if declared is not None else ModelPermissions.perms_map[method.upper()]
    return frozenset(
        p % {"app_label": opts.app_label, "model_name": opts.model_name} for p in perms
    )


def _fill_ids(url_path: str) -> str:
    return re.sub(r"\(\?P<\w+>[^)]*\)", str(UNKNOWN_ID), url_path)


def api_routes() -> list[Route]:
    routes = []
    for prefix, viewset, _ in router.registry:
        base = f"/api/v1/{prefix}/"
        actions = [
            (action, method, detail, "")
            for action, method, detail in STANDARD_ROUTES
            if hasattr(viewset, action)
        ]
        actions += [
            # A nested id in the path (`deliveries/(?P<delivery_id>…)/redeliver`) is unknown too.
            (extra.__name__, method, extra.detail, f"{_fill_ids(extra.url_path)}/")
            for extra in viewset.get_extra_actions()
            for method in extra.mapping
        ]
        for action, method, detail, suffix in actions:
            url = f"{base}{UNKNOWN_ID}/{suffix}" if detail else f"{base}{suffix}"
            routes.append(
                Route(prefix, action, method, url, detail, _required(viewset, action, method))
            )
    return routes


def _call(client: APIClient, route: Route):
    return getattr(client, route.method)(route.url, {} if route.method != "get" else None)


def assert_api_allows_exactly(client: APIClient, perms: set[str], who: str) -> None:
    for route in api_routes():
        status = _call(client, route).status_code
        if not route.required <= perms:
            assert status == 403, (who, str(route), status)
        elif route.detail:
            assert status == 404, (who, str(route), status)  # allowed: the id is unknown
        else:
            assert status < 500 and status not in (401, 403, 405), (who, str(route), status)


def test_every_router_viewset_uses_the_model_permissions():
    """What the matrix derives its expectations from; a viewset with its own permission
    class must be added to this test deliberately."""
    for prefix, viewset, _ in router.registry:
        assert any(issubclass(cls, ModelPermissions) for cls in viewset.permission_classes), prefix


@pytest.mark.parametrize("role", ROLES)
def test_api_routes_answer_exactly_the_roles_permissions(role, make_user):
    client = APIClient()
    client.force_authenticate(make_user(role.lower().replace(" ", "_"), role=role))
    assert_api_allows_exactly(client, set(ROLE_PERMISSIONS[role]), role)


UNSUBSCRIBE_HEADERS = "preference_center.get_unsubscribe_headers"


@pytest.mark.parametrize("role", ROLES)
def test_unsubscribe_headers_answer_exactly_the_roles_permission(role, make_user):
    client = APIClient()
    client.force_authenticate(make_user(role.lower().replace(" ", "_"), role=role))
    status = client.get("/api/v1/unsubscribe-headers/").status_code
    assert status == (400 if UNSUBSCRIBE_HEADERS in ROLE_PERMISSIONS[role] else 403), role


def test_every_api_route_needs_credentials(db):
    client = APIClient()
    for route in api_routes():
        status = _call(client, route).status_code
        assert status in (401, 403), (str(route), status)
    assert client.get("/api/v1/unsubscribe-headers/").status_code in (401, 403)


def test_a_consent_check_token_can_only_check_consent(make_user, client):
    user = make_user("sender", perms=[CHECK_ONLY])
    api = APIClient()
    api.force_authenticate(user)
    assert_api_allows_exactly(api, {CHECK_ONLY}, CHECK_ONLY)
    routes = [r for r in api_routes() if r.required <= {CHECK_ONLY}]
    assert [(r.prefix, r.method) for r in routes] in ([], [("consent-checks", "post")])
    # Minting unsubscribe links is a permission of its own (issue 15 #4).
    assert api.get("/api/v1/unsubscribe-headers/").status_code == 403
    client.force_login(user)
    for model, _ in admin_pages():
        for page in ("changelist", "add"):
            assert _admin_status(client, _admin_url(model, page)) == 403, (model, page)
