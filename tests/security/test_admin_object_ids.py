"""Malformed ids in every admin URL that carries one (config/admin.py `admin_view`): 404, never a
500, and never a full-width or padded number read as an id. The URLs come from the admin
registry, so a custom view added later is covered as soon as it is registered."""

from urllib.parse import quote

import pytest
from django.contrib import admin
from django.urls import URLPattern

from common.admin import is_object_id
from subjects.models import Contact
from tests import factories

pytestmark = pytest.mark.django_db

MALFORMED = ["abc", "1.5", "-1", "1e3", "0x1", "9" * 40, "１２", "١٢", " 12", "12 "]


def object_routes() -> list[tuple[str, str]]:
    """(model label, route) of every admin URL with an `object_id`."""
    routes = []
    for model, model_admin in admin.site._registry.items():
        if not is_object_id(model._meta.pk, "not-a-number"):  # integer keys (not DRF's tokens)
            for pattern in model_admin.get_urls():
                route = str(pattern.pattern) if isinstance(pattern, URLPattern) else ""
                # "<path:object_id>/" only redirects to the change page (covered below).
                if "<path:object_id>" in route and route != "<path:object_id>/":
                    routes.append((model._meta.label, route))
    return sorted(routes)


def url_for(label: str, route: str, object_id: str) -> str:
    app_label, model = label.lower().split(".")
    path = route.replace("<path:object_id>", quote(object_id)).replace(
        "<slug:action>", "deactivate"
    )
    return f"/admin/{app_label}/{model}/{path}"


def test_the_custom_pages_are_among_the_routes():
    routes = {route for _, route in object_routes()}
    for custom in (
        "<path:object_id>/timeline/",
        "<path:object_id>/access-report/",
        "<path:object_id>/verbal-consent/",
        "<path:object_id>/lifecycle/<slug:action>/",
        "<path:object_id>/history/",
        "<path:object_id>/audience/",
        "<path:object_id>/change/",
    ):
        assert custom in routes


@pytest.mark.parametrize(("label", "route"), object_routes())
def test_a_malformed_id_is_404_on_every_admin_url(client, admin_user, label, route):
    client.force_login(admin_user)
    for object_id in MALFORMED:
        for method in (client.get, client.post):
            response = method(url_for(label, route, object_id))
            assert response.status_code == 404, (method.__name__, object_id, response.status_code)


def test_a_full_width_id_does_not_reach_the_object(client, admin_user):
    contact = factories.contact()
    client.force_login(admin_user)
    assert client.get(f"/admin/subjects/contact/{contact.pk}/timeline/").status_code == 200
    full_width = "".join(chr(0xFF10 + int(digit)) for digit in str(contact.pk))
    assert int(full_width) == contact.pk  # what Python's int() would read
    assert client.get(f"/admin/subjects/contact/{quote(full_width)}/timeline/").status_code == 404


def test_consent_load_change_page_with_a_word_is_404(client, admin_user):
    client.force_login(admin_user)
    assert client.get("/admin/consent/consentload/abc/change/").status_code == 404


@pytest.mark.parametrize(
    ("object_id", "expected"),
    [("12", True), ("0", True), ("１２", False), (" 12", False), ("9" * 19, False), ("", False)],
)
def test_is_object_id(object_id, expected):
    assert is_object_id(Contact._meta.pk, object_id) is expected
