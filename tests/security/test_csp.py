"""Issue 15 #18: no page loads a script or style from a CDN; a Content-Security-Policy on
the admin, the API (docs included) and the public pages; the schema and docs are staff-only
with DEBUG off."""

import re
from html.parser import HTMLParser

import pytest
from django.contrib import admin
from django.urls import reverse

from tests import factories

pytestmark = pytest.mark.django_db
POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "object-src": "'none'",
    "frame-ancestors": "'none'",
    "base-uri": "'none'",
}


def directives(response) -> dict[str, str]:
    header = response["Content-Security-Policy"]
    return dict(part.strip().split(" ", 1) for part in header.split(";") if part.strip())


class Resources(HTMLParser):
    """Every URL a page loads (scripts, styles, images, frames) and every inline script/style."""

    def __init__(self):
        super().__init__()
        self.urls, self.inline_scripts, self.inline_styles, self.style_attributes = [], 0, 0, 0
        self.javascript_urls = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script":
            if attrs.get("src"):
                self.urls.append(attrs["src"])
            else:
                self.inline_scripts += 1
        elif tag == "link" and attrs.get("href"):
            self.urls.append(attrs["href"])
        elif tag in ("img", "iframe", "source") and attrs.get("src"):
            self.urls.append(attrs["src"])
        elif tag == "style":
            self.inline_styles += 1
        if "style" in attrs:
            self.style_attributes += 1
        if any((v or "").strip().lower().startswith("javascript:") for v in attrs.values()):
            self.javascript_urls += 1


def resources_of(html: str) -> Resources:
    parser = Resources()
    parser.feed(html)
    return parser


def assert_self_hosted(response, what: str) -> None:
    html = response.content.decode()
    found = resources_of(html)
    external = [url for url in found.urls if re.match(r"(https?:)?//", url)]
    assert external == [], (what, external)
    for cdn in ("jsdelivr", "unpkg", "cdnjs", "googleapis", "@latest"):
        assert cdn not in html, (what, cdn)
    assert found.inline_scripts == 0, what
    assert found.inline_styles == 0, what
    assert found.style_attributes == 0, what
    assert found.javascript_urls == 0, what


def assert_policy(response, what: str) -> None:
    found = directives(response)
    for name, value in POLICY.items():
        assert found.get(name) == value, (what, name, found.get(name))
    assert "unsafe-inline" not in response["Content-Security-Policy"], what


@pytest.fixture
def staff(client, admin_user):
    client.force_login(admin_user)
    return client


def test_the_api_docs_load_swagger_ui_from_our_own_static_files(staff):
    page = staff.get("/api/v1/docs/")
    assert page.status_code == 200
    assert_self_hosted(page, "docs")
    assert_policy(page, "docs")
    found = resources_of(page.content.decode())
    assert any(
        "swagger-ui-dist" in url and url.endswith("swagger-ui-bundle.js") for url in found.urls
    )
    script = staff.get("/api/v1/docs/?script=")
    assert script.status_code == 200
    assert "javascript" in script["Content-Type"]
    assert "SwaggerUIBundle" in script.content.decode()
    assert "cdn" not in script.content.decode().lower()


def _admin_pages(contact) -> list[str]:
    pages = [reverse("admin:index")]
    for model in admin.site._registry:
        opts = model._meta
        pages.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
    opts = contact._meta
    pages.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[contact.pk]))
    return pages


def test_no_admin_page_has_inline_script_or_style_or_a_cdn(staff):
    contact = factories.contact()
    for url in _admin_pages(contact):
        response = staff.get(url)
        assert response.status_code == 200, url
        assert_self_hosted(response, url)
        assert_policy(response, url)


def test_the_admin_login_and_the_api_answer_with_the_policy(client, as_dpo):
    login = client.get(reverse("admin:login"))
    assert_self_hosted(login, "login")
    assert_policy(login, "login")
    assert_policy(as_dpo.get("/api/v1/contacts/"), "api")


def test_the_public_pages_have_no_inline_style_and_send_the_policy(client):
    profile = factories.compliance_profile(slug="acme")
    for url in ("/preferences/", f"/subscribe/{profile.slug}/"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert_self_hosted(response, url)
        assert_policy(response, url)


def test_schema_and_docs_are_staff_only_with_debug_off(client, make_user, settings):
    settings.DEBUG = False
    not_staff = _non_staff(make_user)
    for url in ("/api/v1/schema/", "/api/v1/docs/"):
        assert client.get(url).status_code in (401, 403), url
        client.force_login(not_staff)
        assert client.get(url).status_code == 403, url
        client.logout()
    client.force_login(make_user("ops"))  # make_user makes staff users
    assert client.get("/api/v1/schema/").status_code == 200
    assert client.get("/api/v1/docs/").status_code == 200


def _non_staff(make_user):
    user = make_user("not-staff")
    user.is_staff = False
    user.save()
    return user


def test_schema_and_docs_are_open_in_development(client, settings):
    settings.DEBUG = True
    assert client.get("/api/v1/schema/").status_code == 200
    assert client.get("/api/v1/docs/").status_code == 200
