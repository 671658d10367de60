"""EMAIL_URL (config/email.py): an ESP's scheme selects django-anymail's backend for it; any
other URL is parsed by django-environ as before."""

import pytest

from config.email import email_settings


@pytest.mark.parametrize(
    ("url", "backend", "anymail"),
    [
        (
            "sendgrid://SG.key",
            "anymail.backends.sendgrid.EmailBackend",
            {"SENDGRID_API_KEY": "SG.key"},
        ),
        (
            "postmark://server-token",
            "anymail.backends.postmark.EmailBackend",
            {"POSTMARK_SERVER_TOKEN": "server-token"},
        ),
        (
            "brevo://xkeysib-1",
            "anymail.backends.brevo.EmailBackend",
            {"BREVO_API_KEY": "xkeysib-1"},
        ),
        (
            "mailgun://key-1@api.eu.mailgun.net",
            "anymail.backends.mailgun.EmailBackend",
            {"MAILGUN_API_KEY": "key-1", "MAILGUN_API_URL": "https://api.eu.mailgun.net/v3"},
        ),
        (
            "mailjet://public:secret@",
            "anymail.backends.mailjet.EmailBackend",
            {"MAILJET_API_KEY": "public", "MAILJET_SECRET_KEY": "secret"},
        ),
        (
            "amazonses://?region=eu-west-1",
            "anymail.backends.amazon_ses.EmailBackend",
            {"AMAZON_SES_CLIENT_PARAMS": {"region_name": "eu-west-1"}},
        ),
    ],
)
def test_an_esp_url_selects_anymails_backend(url, backend, anymail):
    django_settings, anymail_settings = email_settings(url)
    assert django_settings == {"EMAIL_BACKEND": backend}
    assert anymail_settings == anymail


def test_smtp_and_console_urls_are_parsed_as_before():
    settings, anymail = email_settings("smtp+tls://user:pw@mail.example.org:587")
    assert settings["EMAIL_BACKEND"] == "django.core.mail.backends.smtp.EmailBackend"
    assert (settings["EMAIL_HOST"], settings["EMAIL_PORT"]) == ("mail.example.org", 587)
    assert settings["EMAIL_USE_TLS"] is True and anymail == {}
    console, _ = email_settings("consolemail://")
    assert console["EMAIL_BACKEND"] == "django.core.mail.backends.console.EmailBackend"


def test_every_anymail_backend_named_exists():
    from importlib import import_module

    from config.email import ESP_BACKENDS

    for module, _ in ESP_BACKENDS.values():
        assert hasattr(import_module(f"anymail.backends.{module}"), "EmailBackend")
