"""Issue 15 #18: no page loads a script or style from a CDN; a Content-Security-Policy on
the admin, the API (docs included) and the public pages; the schema and docs are staff-only
with DEBUG off."""

import re
from datetime import timedelta
from html.parser import HTMLParser
from urllib.parse import urlencode, urlsplit

import pytest
from django.contrib import admin
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from consent.models import (
    ComplianceProfile,
    ContactPointConsent,
    WebhookDelivery,
    WebhookEndpoint,
)
from consent.reports.access_report import subject_access_report
from consent.services.contact_points import suppression_add
from consent.services.erasure import subject_anonymize
from consent.services.requests import data_subject_request_complete, data_subject_request_create
from preference_center import links
from subjects.models import Contact
from tests import factories
from tests.admin_pages import crawl, shape

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


def _every_kind_of_record(admin_user, client) -> list[str]:
    """Demo data, plus what the demo does not make: requests (one answered with its report),
    a webhook and its delivery, a suppression, an erased contact, a consent load. Returns the
    pages only a form opens: a consent check's answer with its explanation, a check as of."""
    call_command("seed_demo", contacts=30, seed=3)
    contact, erased = Contact.objects.exclude(email="").order_by("pk")[:2]
    answered = data_subject_request_create(kind="access", contact=contact)
    report = subject_access_report(subject=contact, user=admin_user)
    data_subject_request_complete(request=answered, access_report=report, user=admin_user)
    data_subject_request_create(kind="erasure", contact=contact)
    endpoint = WebhookEndpoint.objects.create(
        url="http://127.0.0.1:9/in", events=["subject.anonymized"]
    )
    WebhookDelivery.objects.create(
        endpoint=endpoint, event_id="m1", event_type="subject.anonymized", address_key="k", data={}
    )
    suppression_add(channel="email", value="gone@example.org", reason="complaint")
    subject_anonymize(subject=erased)
    client.post(
        reverse("admin:consent_consentload_add"),
        {
            "file": SimpleUploadedFile("legacy.csv", client.get(_SAMPLE).content, "text/csv"),
            "profile": ComplianceProfile.objects.default().pk,
            "mode": "skip",
        },
    )
    record = ContactPointConsent.objects.select_related("purpose").first()
    check = reverse("admin:consent_contactpointconsent_check")
    as_of = (timezone.now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    query = {"channel": record.channel, "value": record.value, "purpose": record.purpose_id}
    return [
        f"{check}?{urlencode(query)}",
        # Answered requests are not among the open ones the changelist shows first.
        reverse("admin:consent_datasubjectrequest_change", args=[answered.pk]),
        f"{check}?{urlencode({**query, 'as_of': as_of})}",
        reverse("admin:subjects_contact_check_as_of", args=[contact.pk]) + f"?as_of={as_of}",
    ]


_SAMPLE = "/admin/consent/consentload/sample.csv"


def test_every_admin_page_a_crawler_reaches_runs_under_the_policy(client, admin_user):
    """Every admin page, custom ones included (dashboard, timeline, access reports, consent
    check and explanation, matrix, requests, loads, webhooks): no inline script, style block,
    style attribute or javascript: URL, and the policy on each."""
    client.force_login(admin_user)
    extra = _every_kind_of_record(admin_user, client)
    pages = crawl(client, extra=extra)
    for url, response in pages.items():
        assert response.status_code in (200, 302), (url, response.status_code)
        assert_policy(response, url)
        if response.status_code == 200 and "html" in response["Content-Type"]:
            assert_self_hosted(response, url)
    shapes = {shape(url) for url in pages}
    for page in (
        "/admin/",
        "/admin/subjects/contact/N/change/",
        "/admin/subjects/contact/N/timeline/",
        "/admin/subjects/contact/N/access-report/",
        "/admin/subjects/contact/N/check-as-of/",
        "/admin/subjects/contact/N/verbal-consent/",
        "/admin/subjects/contact/N/history/N/",
        "/admin/consent/contactpointconsent/check/",
        "/admin/consent/datasubjectrequest/N/report/",
        "/admin/consent/consentload/N/",
        "/admin/consent/webhookdelivery/",
        "/admin/marketing_lists/marketinglist/N/audience/",
    ):
        assert page in shapes, page
    explained = pages[extra[0]].content.decode()
    assert 'id="explained-records"' in explained  # the explanation was rendered and parsed


def test_the_admin_login_and_the_api_answer_with_the_policy(client, as_dpo):
    login = client.get(reverse("admin:login"))
    assert_self_hosted(login, "login")
    assert_policy(login, "login")
    assert_policy(as_dpo.get("/api/v1/contacts/"), "api")


def test_the_public_pages_have_no_inline_style_and_send_the_policy(client):
    profile = factories.compliance_profile(slug="acme")
    purpose = factories.purpose(profile=profile)
    factories.topic(purpose_obj=purpose)
    address = "ada@example.org"
    factories.cp_consent(value=address, purpose_obj=purpose, status="opted_in")
    manage = urlsplit(links.manage_url(profile=profile, channel="email", value=address)).path
    unsubscribe = urlsplit(
        links.unsubscribe_url(channel="email", value=address, purpose=purpose)
    ).path
    pages = [
        ("get", "/preferences/", {}, {}),
        ("post", "/preferences/", {"email": address}, {}),  # "link sent"
        ("get", f"/subscribe/{profile.slug}/", {}, {}),
        ("post", f"/subscribe/{profile.slug}/", {"email": "new@example.org"}, {}),  # "done"
        ("get", manage, {}, {}),
        ("get", f"{manage}?saved=1&opt_in=mailed", {}, {}),
        ("get", manage, {}, {"HTTP_SEC_GPC": "1"}),  # the GPC message
        ("get", unsubscribe, {}, {}),
        ("get", "/preferences/not-a-token/", {}, {}),  # the invalid-link page
    ]
    unsubscribe_page = client.get(unsubscribe).content.decode()
    opt_out_only = re.search(r'href="(/preferences/[^"?]+/)', unsubscribe_page).group(1)
    pages.append(("get", opt_out_only, {}, {}))
    for method, url, data, headers in pages:
        response = getattr(client, method)(url, data, **headers)
        assert response.status_code in (200, 404), (method, url, response.status_code)
        assert "<html" in response.content.decode(), url
        assert_self_hosted(response, f"{method} {url}")
        assert_policy(response, f"{method} {url}")


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
