"""Issue 15 #20: phones, names and every other query-string value stay out of the logs, the
500 tracebacks and the error mails; tokens and e-mail addresses too."""

import logging

import pytest
from django.core import mail
from django.test import Client

from common.redaction import REDACTED, RedactFilter, redact

NAME, PHONE, EMAIL = "Lovelace", "+31610000001", "ada@example.org"
QUERY = "?last_name=Lovelace&first_name=Ada&phone=%2B31610000001&page=2&lang=nl"


def test_every_query_value_but_the_harmless_ones_is_redacted():
    line = f'"GET /api/v1/contacts/{QUERY} HTTP/1.1" 500 145'
    assert redact(line) == (
        '"GET /api/v1/contacts/?last_name=[redacted]&first_name=[redacted]'
        '&phone=[redacted]&page=2&lang=nl HTTP/1.1" 500 145'
    )


@pytest.mark.parametrize(
    "text",
    [
        "/admin/subjects/contact/?q=Lovelace",
        "/api/v1/contact-point-consents/?value=%2B31610000001",
        "/api/v1/unsubscribe-headers/?channel=sms&value=%2B31%206%201000%200001&purpose=3",
        "/api/v1/leads/?search=ada%40example.org",
        "lookup failed for +31610000001",
        "lookup failed for ada@example.org",
        "a long value in a kept parameter: ?lang=" + "-".join([NAME] * 6),
    ],
)
def test_names_phones_and_addresses_disappear(text):
    redacted = redact(text)
    for secret in (NAME, "31610000001", "6%201000", "ada@", "ada%40"):
        assert secret not in redacted, (text, redacted)


def test_the_filter_removes_the_query_values_from_a_traceback(rf):
    request = rf.get(f"/api/v1/contacts/{QUERY}")
    try:
        raise ValueError(f"No contact named {NAME!r}")
    except ValueError:
        record = logging.LogRecord(
            "django.request",
            logging.ERROR,
            __file__,
            1,
            "Internal Server Error: %s",
            (request.get_full_path(),),
            exc_info=__import__("sys").exc_info(),
        )
    record.request = request
    RedactFilter().filter(record)
    text = logging.Formatter().format(record)
    assert NAME not in text and "31610000001" not in text
    assert "ValueError: No contact named '[redacted]'" in text


@pytest.fixture
def failing(settings):
    settings.ROOT_URLCONF = "tests.common.urls_failing"
    settings.ADMINS = [("Ops", "ops@example.org")]
    settings.DEBUG = False
    client = Client(raise_request_exception=False)
    return lambda: client.get(f"/api/v1/contacts/failing/{QUERY}")


def _text_of(caplog) -> str:
    formatter = logging.Formatter("%(message)s")
    return "\n".join(formatter.format(record) for record in caplog.records)


def test_a_500_is_logged_without_the_query_values(failing, caplog, db):
    with caplog.at_level(logging.ERROR, logger="django.request"):
        assert failing().status_code == 500
    text = _text_of(caplog)
    assert "Internal Server Error: /api/v1/contacts/failing/" in text
    assert "ValueError: No contact named" in text  # the traceback is still there
    for secret in (NAME, "'Ada'", "31610000001"):
        assert secret not in text, secret


def test_the_500_mail_to_admins_carries_no_query_values(failing, db):
    assert failing().status_code == 500
    (message,) = mail.outbox
    bodies = [message.subject, message.body, *(a.content for a in message.alternatives)]
    assert "ValueError" in message.body
    for body in bodies:
        for secret in (NAME, "31610000001", "%2B31610000001"):
            assert secret not in body, (secret, body[:2000])
    assert REDACTED in message.body
