"""Tokens never reach the logs (django.request logs the path of every 4xx)."""

import logging

import pytest
from django.test import Client

from preference_center.log_filters import redact
from preference_center.tokens import AddressLink
from tests.preference_center.conftest import manage_path, unsubscribe_path

pytestmark = pytest.mark.django_db


def logged_text(caplog) -> str:
    return "\n".join(
        f"{record.getMessage()} {record.args!r} {record.msg!r}" for record in caplog.records
    )


def test_a_404_on_a_token_page_is_logged_without_the_token(client, caplog, profile):
    token = AddressLink(profile.pk, "email", "x@example.org").dumps()
    tampered = token[:-3] + "abc"
    with caplog.at_level(logging.WARNING, logger="django.request"):
        for path in (
            f"/preferences/{tampered}/",
            f"/unsubscribe/{tampered}/",
            f"/subscribe/confirm/{tampered}/",
        ):
            assert client.get(path).status_code == 404
    assert len(caplog.records) == 3
    text = logged_text(caplog)
    assert tampered not in text and tampered[:20] not in text
    assert "/preferences/[redacted]/" in text
    assert "/subscribe/confirm/[redacted]/" in text


def test_a_csrf_failure_on_a_token_page_is_logged_without_the_token(caplog, profile, catalog):
    path = manage_path(profile, "x@example.org")
    token = path.split("/")[2]
    with caplog.at_level(logging.WARNING):
        assert Client(enforce_csrf_checks=True).post(path, {}).status_code == 403
        unsubscribe = unsubscribe_path(catalog["newsletter"], "x@example.org")
        assert Client(enforce_csrf_checks=True).post(unsubscribe, {}).status_code == 403
    assert caplog.records, "the failures are logged"
    text = logged_text(caplog)
    assert token not in text
    assert unsubscribe.split("/")[2] not in text


def test_the_redaction_keeps_the_rest_of_the_line():
    line = '"GET /preferences/abc:def-ghi/?lang=nl HTTP/1.1" 200 512'
    assert redact(line) == '"GET /preferences/[redacted]/?lang=nl HTTP/1.1" 200 512'
    assert redact("GET /preferences/ HTTP/1.1") == "GET /preferences/ HTTP/1.1"
    assert redact("/subscribe/acme/") == "/subscribe/acme/"
