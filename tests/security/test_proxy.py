"""Issue 15 #17: a production deployment behind a TLS-terminating reverse proxy.

The proxy speaks HTTPS to browsers and plain HTTP to Django, sets `X-Forwarded-Proto: https`
and (here) forwards the request to an internal host name. The settings come from the
environment: SECURE_PROXY_SSL_HEADER and CSRF_TRUSTED_ORIGINS.
"""

import json

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client

from config.env import origin, proxy_ssl_header
from tests.security.test_deploy_check import manage, production_env

PUBLIC = "https://crm.example.org"
PROXIED = {"HTTP_X_FORWARDED_PROTO": "https", "HTTP_HOST": "crm.example.org"}


@pytest.fixture
def behind_proxy(settings):
    settings.ALLOWED_HOSTS = ["crm.example.org", "app.internal"]
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.CSRF_TRUSTED_ORIGINS = [PUBLIC]
    settings.CSRF_COOKIE_SECURE = True
    settings.SESSION_COOKIE_SECURE = True
    return settings


def test_a_proxied_https_request_is_not_redirected_again(behind_proxy, db):
    response = Client().get("/preferences/", **PROXIED)
    assert response.status_code == 200  # no redirect loop
    # A plain-HTTP request (no proxy header) is still sent to HTTPS.
    response = Client().get("/preferences/", HTTP_HOST="crm.example.org")
    assert response.status_code == 301
    assert response["Location"] == "https://crm.example.org/preferences/"


def test_without_the_proxy_header_setting_the_redirect_loops(behind_proxy, db):
    behind_proxy.SECURE_PROXY_SSL_HEADER = None
    response = Client().get("/preferences/", **PROXIED)
    assert response.status_code == 301  # the loop of the issue: HTTPS sent to HTTPS again


def _post_link_request(origin_header: str, host: str):
    client = Client(enforce_csrf_checks=True)
    page = client.get("/preferences/", HTTP_X_FORWARDED_PROTO="https", HTTP_HOST=host)
    token = page.cookies["csrftoken"].value
    return client.post(
        "/preferences/",
        {"email": "a@example.org", "csrfmiddlewaretoken": token},
        HTTP_X_FORWARDED_PROTO="https",
        HTTP_HOST=host,
        HTTP_ORIGIN=origin_header,
        HTTP_REFERER=f"{origin_header}/preferences/",
    )


def test_a_post_from_the_trusted_origin_passes_csrf(behind_proxy, db):
    # The proxy forwards to an internal host name: only CSRF_TRUSTED_ORIGINS vouches for it.
    assert _post_link_request(PUBLIC, "app.internal").status_code == 200
    assert _post_link_request(PUBLIC, "crm.example.org").status_code == 200


def test_a_post_from_another_origin_is_refused(behind_proxy, db):
    assert _post_link_request("https://evil.example", "app.internal").status_code == 403
    behind_proxy.CSRF_TRUSTED_ORIGINS = []
    assert _post_link_request(PUBLIC, "app.internal").status_code == 403


def test_both_settings_are_read_from_the_environment(tmp_path):
    env = production_env(tmp_path)
    env.update(
        SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_PROTO,https",
        CSRF_TRUSTED_ORIGINS="https://crm.example.org,https://www.example.org",
    )
    code = (
        "import json; from django.conf import settings as s; "
        "print(json.dumps([s.SECURE_PROXY_SSL_HEADER, s.CSRF_TRUSTED_ORIGINS]))"
    )
    returncode, output = manage(env, "shell", "-c", code)
    assert returncode == 0, output
    header, origins = json.loads(output.strip().splitlines()[-1])
    assert header == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert origins == ["https://crm.example.org", "https://www.example.org"]


def test_the_trusted_origin_defaults_to_the_site_url():
    assert origin("https://crm.example.org/some/path") == "https://crm.example.org"
    assert origin("http://127.0.0.1:8000") == "http://127.0.0.1:8000"


@pytest.mark.parametrize("raw", ["X-Forwarded-Proto: https", "HTTP_X_FORWARDED_PROTO", "a,b,c"])
def test_a_malformed_proxy_header_setting_refuses_to_start(raw):
    with pytest.raises(ImproperlyConfigured):
        proxy_ssl_header(raw)
    assert proxy_ssl_header("") is None
