"""Untrusted input on the public pages (DESIGN §3.6): never a 500, nothing written when a request
is refused, and no address or token echoed for a bad link, put in a URL or written to a log."""

import logging
import string
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core import mail
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from consent.models import ContactPointConsent, DataConsent, Suppression
from consent.services.erasure import subject_anonymize
from preference_center.tokens import AddressLink, SignUpRequest, UnsubscribeLink
from subjects.models import Contact, Lead
from tests import factories
from tests.preference_center.conftest import status_of

pytestmark = pytest.mark.django_db
ADDRESS = "jane.doe@example.org"
STRANGER = "nosy.parker@example.net"
START = datetime(2025, 5, 1, 9, 0, tzinfo=UTC)
INVALID = "This link is no longer valid"
ONE_CLICK = {"List-Unsubscribe": "One-Click"}
OPTED_IN = ContactPointConsent.Status.OPTED_IN
OPTED_OUT = ContactPointConsent.Status.OPTED_OUT
WRONG_METHODS = ("put", "patch", "delete", "options", "trace")


def written() -> dict[str, int]:
    """Every table a public page may write, with its history: a refusal leaves all unchanged."""
    return {
        "contact points": ContactPointConsent.objects.count(),
        "contact point history": ContactPointConsent.history.count(),
        "data consents": DataConsent.objects.count(),
        "data consent history": DataConsent.history.count(),
        "leads": Lead.objects.count(),
        "lead history": Lead.history.count(),
        "contacts": Contact.objects.count(),
        "suppressions": Suppression.objects.count(),
    }


def tokens(profile, purpose, value: str = ADDRESS) -> dict[str, str]:
    return {
        "manage": AddressLink(profile.pk, "email", value).dumps(),
        "unsubscribe": UnsubscribeLink(profile.pk, "email", value, purpose.pk).dumps(),
        "confirm": SignUpRequest(
            profile.pk, "email", value, (purpose.pk,), (), START, "198.51.100.1", "UA"
        ).dumps(),
    }


def page(name: str, token: str) -> str:
    return reverse(f"preference_center:{name}", args=[token])


@pytest.fixture
def strict():
    """A browser-like client: CSRF enforced, like production."""
    return Client(enforce_csrf_checks=True)


@pytest.fixture
def logs(caplog):
    caplog.set_level(logging.DEBUG)
    return caplog


def log_text(caplog) -> str:
    return "\n".join(record.getMessage() for record in caplog.records)


def assert_invalid_link_page(response, *secrets: str) -> None:
    assert response.status_code == 404
    html = response.content.decode()
    assert INVALID in html
    for secret in secrets:
        assert secret not in html
    assert response["Referrer-Policy"] == "no-referrer"
    assert "no-store" in response["Cache-Control"]


# ---------------------------------------------------------------------------------------------
# Bad tokens: tampered, truncated, expired, made for another page, unreadable bytes


BASE64URL = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"


def tampered(token: str) -> str:
    """The last data character with its top bit flipped: that bit always carries data (the
    low bits of the last character can be padding, and another letter there may decode to
    the same bytes, so the token would still be valid)."""
    body = token.rstrip("=")
    position = len(body) - 1
    flipped = BASE64URL[BASE64URL.index(body[position]) ^ 0b100000]
    return token[:position] + flipped + token[position + 1 :]


HMAC_CHARACTERS = 43  # a Fernet token ends with its HMAC-SHA256: 32 bytes, 43 base64 characters


def spliced(token: str, other: str) -> str:
    """One token's encrypted payload under another's HMAC."""
    return other[:-HMAC_CHARACTERS] + token[-HMAC_CHARACTERS:]


BAD_TOKENS = {
    "tampered signature": lambda t, other: tampered(t),
    "truncated by one": lambda t, other: t[:-1],
    "truncated in half": lambda t, other: t[: len(t) // 2],
    "payload only": lambda t, other: t[:-HMAC_CHARACTERS],
    "spliced payload": lambda t, other: spliced(t, other),
    "lower-cased": lambda t, other: t.lower(),
    "padded with junk": lambda t, other: t + "x" * 2000,
}


@pytest.mark.parametrize("name", ["manage", "unsubscribe", "confirm"])
@pytest.mark.parametrize("kind", BAD_TOKENS)
def test_a_damaged_token_gets_the_invalid_link_page_and_writes_nothing(
    client, logs, profile, newsletter, name, kind
):
    token = tokens(profile, newsletter)[name]
    other = tokens(profile, newsletter, value=STRANGER)[name]
    bad = BAD_TOKENS[kind](token, other)
    before = written()

    for response in (
        client.get(page(name, bad)),
        client.post(page(name, bad), ONE_CLICK),
        client.post(page(name, bad), {"purpose": [newsletter.pk], "action": "save"}),
    ):
        assert_invalid_link_page(response, ADDRESS, STRANGER, bad)

    assert written() == before
    assert bad not in log_text(logs) and token not in log_text(logs)


@pytest.mark.parametrize(
    "name,made_for",
    [
        ("manage", "unsubscribe"),
        ("manage", "confirm"),
        ("unsubscribe", "manage"),
        ("unsubscribe", "confirm"),
        ("confirm", "manage"),
        ("confirm", "unsubscribe"),
    ],
)
def test_a_token_made_for_another_page_is_refused(client, profile, newsletter, name, made_for):
    token = tokens(profile, newsletter)[made_for]
    before = written()

    assert_invalid_link_page(client.get(page(name, token)), ADDRESS)
    assert_invalid_link_page(client.post(page(name, token), ONE_CLICK), ADDRESS)
    assert written() == before


@pytest.mark.parametrize(
    "name,age", [("manage", 181), ("unsubscribe", 181), ("confirm", 29)], ids=str
)
def test_an_expired_token_is_refused_and_writes_nothing(client, profile, newsletter, name, age):
    with time_machine.travel(START, tick=False) as traveller:
        token = tokens(profile, newsletter)[name]
        assert client.get(page(name, token)).status_code == 200
        traveller.move_to(START + timedelta(days=age))
        before = written()

        assert_invalid_link_page(client.get(page(name, token)), ADDRESS)
        assert_invalid_link_page(client.post(page(name, token), ONE_CLICK), ADDRESS)
        assert written() == before


@pytest.mark.parametrize("name", ["manage", "unsubscribe", "confirm"])
@pytest.mark.parametrize(
    "raw", ["%00", "abc%00def", "%FF%FE", "%C3%28", "%E2%80%AE", "..", "%2E%2E", "~"]
)
def test_unreadable_bytes_in_the_token_get_the_invalid_link_page(client, name, raw, profile):
    path = page(name, "placeholder").replace("placeholder", raw)
    before = written()

    assert_invalid_link_page(client.get(path))
    assert_invalid_link_page(client.post(path, ONE_CLICK))
    assert written() == before


def test_a_token_naming_a_deleted_topic_is_refused(client, profile, newsletter, events):
    token = UnsubscribeLink(profile.pk, "email", ADDRESS, newsletter.pk, events.pk).dumps()
    events.delete()
    before = written()

    assert_invalid_link_page(client.post(page("unsubscribe", token), ONE_CLICK), ADDRESS)
    assert written() == before


# ---------------------------------------------------------------------------------------------
# Tokens of an address whose subject was anonymized


@pytest.fixture
def erased(profile, catalog):
    """An address whose only subject was anonymized after it had opted out of the offers: the
    records are gone, a suppression (a bare hash) stands in for the opt-out."""
    contact = factories.contact(email=ADDRESS)
    factories.cp_consent(value=ADDRESS, purpose_obj=catalog["newsletter"], status=OPTED_IN)
    factories.cp_consent(value=ADDRESS, purpose_obj=catalog["offers"], status=OPTED_OUT)
    links = tokens(profile, catalog["newsletter"])  # mailed before the erasure
    subject_anonymize(subject=contact)
    assert not ContactPointConsent.objects.filter(value=ADDRESS).exists()
    return links


def assert_address_not_stored() -> None:
    assert not ContactPointConsent.objects.filter(value=ADDRESS).exists()
    assert not ContactPointConsent.history.filter(value=ADDRESS).exists()
    assert not Lead.objects.filter(email__iexact=ADDRESS).exists()
    assert not Contact.objects.filter(email__iexact=ADDRESS).exists()


def test_the_manage_link_of_an_erased_address_changes_nothing(strict, erased, catalog):
    path = page("manage", erased["manage"])
    shown = strict.get(path)
    assert shown.status_code == 200
    assert "cannot be changed here" in shown.content.decode()
    assert 'name="purpose"' not in shown.content.decode()
    csrf = strict.get(reverse("preference_center:link_request")).cookies["csrftoken"].value
    before = written()

    response = strict.post(
        path,
        {
            "purpose": [catalog["newsletter"].pk, catalog["offers"].pk],
            "topic": [catalog["events"].pk],
            "action": "save",
            "csrfmiddlewaretoken": csrf,
        },
    )

    assert response.status_code == 200
    assert "cannot be changed here" in response.content.decode()
    assert written() == before
    assert_address_not_stored()


def test_one_click_unsubscribe_of_an_erased_address_writes_no_address(strict, erased):
    before = written()

    response = strict.post(page("unsubscribe", erased["unsubscribe"]), ONE_CLICK)

    assert response.status_code == 200  # the customer is told it is done: it is (suppressed)
    assert written() == before
    assert_address_not_stored()


def test_confirming_a_sign_up_of_an_erased_address_writes_nothing(client, erased):
    before = written()

    response = client.post(page("confirm", erased["confirm"]))

    assert response.status_code == 200
    assert written() == before
    assert_address_not_stored()


# ---------------------------------------------------------------------------------------------
# Methods


@pytest.fixture
def every_public_path(profile, catalog) -> list[str]:
    links = tokens(profile, catalog["newsletter"])
    return [
        reverse("preference_center:link_request"),
        page("manage", links["manage"]),
        reverse("preference_center:subscribe", args=[profile.slug]),
        page("confirm", links["confirm"]),
        page("unsubscribe", links["unsubscribe"]),
    ]


@pytest.mark.parametrize("method", WRONG_METHODS)
def test_other_methods_are_refused_with_405_and_write_nothing(
    client, logs, every_public_path, method
):
    before = written()

    for path in every_public_path:
        response = getattr(client, method)(path, "List-Unsubscribe=One-Click")
        assert response.status_code == 405, path
        assert response["Allow"] == "GET, HEAD, POST"

    assert written() == before
    assert "/unsubscribe/[redacted]/" in log_text(logs)
    assert not any(path in log_text(logs) for path in every_public_path[1::2])


def test_head_answers_like_get_and_never_writes(client, every_public_path):
    before = written()

    for path in every_public_path:
        assert client.head(path).status_code == 200, path

    assert written() == before


# ---------------------------------------------------------------------------------------------
# Form fields: missing, duplicated, oversized, out of range, unreadable


@pytest.fixture
def sign_up_path(profile, catalog) -> str:
    return reverse("preference_center:subscribe", args=[profile.slug])


@pytest.mark.parametrize(
    "data,message",
    [
        ({}, "This field is required."),
        ({"email": ""}, "This field is required."),
        ({"email": "x" * 300 + "@example.org"}, "Ensure this value has at most 254 characters"),
        ({"email": "jane\x00doe@example.org"}, "Null characters are not allowed."),
        ({"email": "jane@exa mple.org"}, "Enter a valid email address."),
        ({"email": ["", ""]}, "This field is required."),
    ],
    ids=["missing", "empty", "oversized", "nul", "invalid", "duplicated empty"],
)
def test_a_bad_address_is_shown_on_the_sign_up_form_and_writes_nothing(
    client, sign_up_path, catalog, data, message, django_capture_on_commit_callbacks
):
    before = written()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(sign_up_path, {**data, "topic": [catalog["events"].pk]})

    assert response.status_code == 200
    assert message in response.content.decode()
    assert written() == before
    assert mail.outbox == []


@pytest.mark.parametrize(
    "data,message",
    [
        ({}, "This field is required."),
        ({"email": "x" * 300 + "@example.org"}, "Ensure this value has at most 254 characters"),
        ({"email": "jane\x00doe@example.org"}, "Null characters are not allowed."),
    ],
    ids=["missing", "oversized", "nul"],
)
def test_a_bad_address_is_shown_on_the_link_request_form_and_mails_nothing(
    client, profile, data, message, django_capture_on_commit_callbacks
):
    factories.contact(email=ADDRESS)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("preference_center:link_request"), data)

    assert response.status_code == 200
    assert message in response.content.decode()
    assert mail.outbox == []


@pytest.mark.parametrize(
    "choices",
    [
        {},
        {"topic": ["x"]},
        {"topic": ["\x00"]},
        {"topic": ["99999999999999999999999"]},
        {"topic": ["-1"]},
        {"purpose": ["1e3"]},
    ],
    ids=["none", "text", "nul", "huge", "negative", "float"],
)
def test_sign_up_choices_that_are_not_offered_are_refused(
    client, sign_up_path, catalog, choices, django_capture_on_commit_callbacks
):
    before = written()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(sign_up_path, {"email": ADDRESS, **choices})

    assert response.status_code == 200
    html = response.content.decode()
    assert "Choose at least one subscription." in html or "Select a valid choice." in html
    assert written() == before
    assert mail.outbox == []


def test_a_topic_of_another_profile_cannot_be_signed_up_for(client, sign_up_path, catalog):
    elsewhere = factories.topic(
        purpose_obj=factories.purpose(profile=factories.compliance_profile()), name="Elsewhere"
    )
    before = written()

    response = client.post(sign_up_path, {"email": ADDRESS, "topic": [elsewhere.pk]})

    assert response.status_code == 200
    assert "Select a valid choice." in response.content.decode()
    assert written() == before


def test_a_duplicated_address_signs_up_exactly_one_address(client, sign_up_path, catalog):
    response = client.post(
        sign_up_path, {"email": [STRANGER, ADDRESS], "topic": [catalog["events"].pk]}
    )

    assert response.status_code == 200
    stored = set(ContactPointConsent.objects.values_list("value", flat=True))
    assert stored == {ADDRESS}  # the last value, as Django forms read a repeated field


def test_manage_ignores_ids_it_does_not_show(client, profile, catalog):
    path = page("manage", tokens(profile, catalog["newsletter"])["manage"])
    elsewhere = factories.purpose(profile=factories.compliance_profile(), name="Elsewhere")
    factories.cp_consent(value=ADDRESS, purpose_obj=catalog["offers"], status=OPTED_OUT)
    weird = ["\x00", "x", "99999999999999999999999", "-1", "١", "²", str(elsewhere.pk)]

    response = client.post(
        path,
        {
            "purpose": [*weird, catalog["newsletter"].pk, catalog["newsletter"].pk],
            "topic": [*weird, catalog["events"].pk],
            "action": "save",
        },
    )

    assert response.status_code == 302
    assert response["Location"] == path + "?saved=1"
    assert status_of(ADDRESS, catalog["newsletter"]) == OPTED_IN
    assert status_of(ADDRESS, catalog["newsletter"], catalog["events"]) == OPTED_IN
    assert status_of(ADDRESS, catalog["offers"]) == OPTED_OUT
    assert status_of(ADDRESS, elsewhere) is None
    assert ContactPointConsent.objects.filter(value=ADDRESS).count() == 3


def test_an_unreadable_body_is_read_as_nothing_ticked(client, profile, catalog):
    """Bytes that are not UTF-8 become U+FFFD: no id, no address — never a 500."""
    path = page("manage", tokens(profile, catalog["newsletter"])["manage"])
    factories.cp_consent(value=ADDRESS, purpose_obj=catalog["newsletter"], status=OPTED_IN)

    response = client.generic(
        "POST",
        path,
        b"purpose=%FF%FE&topic=\xff\x00&action=save",
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 302
    assert status_of(ADDRESS, catalog["newsletter"]) == OPTED_OUT  # nothing ticked = off


@pytest.mark.parametrize(
    "body,content_type",
    [
        (b"--x\r\nbroken", "multipart/form-data; boundary=" + "x" * 300),
        (b"List-Unsubscribe=One-Click", "multipart/form-data"),  # no boundary
        (b"email=" + b"a" * 3_000_000, "application/x-www-form-urlencoded"),
        (b"&".join(b"f%d=1" % i for i in range(1500)), "application/x-www-form-urlencoded"),
    ],
    ids=["invalid boundary", "no boundary", "over DATA_UPLOAD_MAX_MEMORY_SIZE", "1500 fields"],
)
def test_a_body_django_cannot_read_is_a_400_that_writes_nothing_and_logs_no_token(
    strict, logs, every_public_path, body, content_type
):
    """A browser's post (CSRF cookie and header) whose body cannot be parsed."""
    csrf = "k" * 32
    strict.cookies["csrftoken"] = csrf
    before = written()

    for path in every_public_path:
        response = strict.generic(
            "POST", path, body, content_type=content_type, HTTP_X_CSRFTOKEN=csrf
        )
        assert response.status_code == 400, path

    assert written() == before
    assert not any(path in log_text(logs) for path in every_public_path[1::2])


def test_one_click_needs_the_exact_rfc_8058_body(client, profile, catalog):
    path = page("unsubscribe", tokens(profile, catalog["newsletter"])["unsubscribe"])
    factories.cp_consent(value=ADDRESS, purpose_obj=catalog["newsletter"], status=OPTED_IN)
    strict = Client(enforce_csrf_checks=True)
    before = written()

    for body in (
        "List-Unsubscribe=one-click",
        "List-Unsubscribe=One-Click%00",
        "list-unsubscribe=One-Click",
        "List-Unsubscribe=",
        "",
    ):
        response = strict.generic(
            "POST", path, body, content_type="application/x-www-form-urlencoded"
        )
        assert response.status_code == 403, body  # not one-click: the CSRF check applies

    assert written() == before
    duplicated = strict.generic(
        "POST",
        path,
        "List-Unsubscribe=One-Click&List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert duplicated.status_code == 200
    assert status_of(ADDRESS, catalog["newsletter"]) == OPTED_OUT


def test_a_post_without_the_csrf_token_is_refused_on_every_form(strict, every_public_path, catalog):
    before = written()

    for path in every_public_path:
        response = strict.post(path, {"email": ADDRESS, "topic": [catalog["events"].pk]})
        assert response.status_code == 403, path

    assert written() == before


# ---------------------------------------------------------------------------------------------
# Query strings: unreadable bytes, unknown languages, addresses


@pytest.mark.parametrize(
    "query",
    ["profile=%00", "profile=a%00b", "profile=%FF%FE", "profile=" + "x" * 5000, "profile=../acme"],
)
def test_a_malformed_profile_in_the_link_request_is_the_invalid_link_page(client, profile, query):
    response = client.get(reverse("preference_center:link_request"), QUERY_STRING=query)

    assert response.status_code == 404
    assert INVALID in response.content.decode()


def test_the_link_request_of_a_named_profile_still_works(client, profile):
    response = client.get(reverse("preference_center:link_request"), {"profile": profile.slug})

    assert response.status_code == 200
    assert "Acme Stores" in response.content.decode()


@pytest.mark.parametrize(
    "lang,shown",
    [
        ("nl", "nl"),
        ("nl-BE", "nl"),
        ("de-AT", "de"),
        ("xx", "en"),
        ("zh-hans", "en"),
        ("%00", "en"),
        ("%FF", "en"),
        ("../../etc/passwd", "en"),
        ("<script>", "en"),
        ("a" * 5000, "en"),
    ],
)
def test_an_unknown_language_falls_back_to_english(client, every_public_path, lang, shown):
    for path in every_public_path:
        response = client.get(path, QUERY_STRING=f"lang={lang}")
        assert response.status_code == 200, path
        html = response.content.decode()
        assert f'<html lang="{shown}">' in html
        assert "<script>" not in html and "passwd" not in html


def test_a_garbage_accept_language_header_falls_back_to_english(client, every_public_path):
    for path in every_public_path:
        response = client.get(path, HTTP_ACCEPT_LANGUAGE="\x00;q=x, ,;;=, xx-YY;q=2")
        assert response.status_code == 200, path
        assert '<html lang="en">' in response.content.decode()


def test_an_address_in_the_query_string_is_never_echoed_or_logged(
    client, logs, every_public_path, profile
):
    for path in every_public_path:
        response = client.get(path, {"email": STRANGER, "value": STRANGER})
        assert response.status_code == 200, path
        assert STRANGER not in response.content.decode()
    bad = client.get(page("manage", "nope"), {"email": STRANGER})
    assert_invalid_link_page(bad, STRANGER)

    assert STRANGER not in log_text(logs)


def test_saving_preferences_redirects_without_the_query_string(client, profile, catalog):
    path = page("manage", tokens(profile, catalog["newsletter"])["manage"])

    response = client.post(
        f"{path}?email={STRANGER}&lang=fr&next=https://evil.example",
        {"purpose": [catalog["newsletter"].pk], "action": "save"},
    )

    assert response.status_code == 302
    assert response["Location"] == f"{path}?saved=1&lang=fr"


def test_an_invalid_token_never_echoes_or_logs_the_address_it_holds(client, logs, profile):
    forged = AddressLink(profile.pk, "email", ADDRESS).dumps()[:-3] + "abc"
    unsubscribe = UnsubscribeLink(profile.pk, "email", ADDRESS, 1).dumps()[:-3] + "abc"

    for path in (page("manage", forged), page("unsubscribe", unsubscribe)):
        assert_invalid_link_page(client.get(path), ADDRESS, forged, unsubscribe)

    text = log_text(logs)
    assert "[redacted]" in text
    assert forged not in text and unsubscribe not in text and ADDRESS not in text


def test_no_page_puts_the_address_in_a_link(client, profile, catalog):
    """The pages' own links carry a token or a language, never the plain address."""
    links = tokens(profile, catalog["newsletter"])
    for path in (page("manage", links["manage"]), page("unsubscribe", links["unsubscribe"])):
        html = client.get(path).content.decode()
        for href in html.split('href="')[1:]:
            assert ADDRESS not in href.split('"', 1)[0]
            assert "jane.doe%40" not in href.split('"', 1)[0]


# ---------------------------------------------------------------------------------------------
# The API of preference_center/api_urls.py is not public


def test_the_unsubscribe_headers_api_is_not_public(client, newsletter):
    response = APIClient().get(
        "/api/v1/unsubscribe-headers/",
        {"channel": "email", "value": ADDRESS, "purpose": newsletter.pk},
    )

    assert response.status_code in (401, 403)
    assert ADDRESS not in response.content.decode()


@pytest.mark.parametrize(
    "query",
    [
        {"channel": "email", "value": "jane\x00@example.org"},
        {"channel": "custom", "value": "id\x00"},
        {"channel": "email\x00", "value": ADDRESS},
        {"channel": "email", "value": ADDRESS, "topic": "99999999999999999999999"},
        {"channel": "email", "value": "x" * 5000},
    ],
    ids=["nul in email", "nul in custom id", "nul in channel", "huge topic", "oversized"],
)
def test_the_unsubscribe_headers_api_answers_400_for_bad_input(admin_user, newsletter, query):
    api = APIClient()
    api.force_authenticate(admin_user)

    response = api.get("/api/v1/unsubscribe-headers/", {"purpose": newsletter.pk, **query})

    assert response.status_code == 400, response.content
    assert set(response.json()) <= {"channel", "value", "purpose", "topic"}


# ---------------------------------------------------------------------------------------------
# Request headers kept as evidence


@pytest.mark.parametrize(
    "agent,kept",
    [
        ("Mozilla/5.0\x00 (X11)", "Mozilla/5.0 (X11)"),
        ("Mozilla/5.0\r\nIP 10.0.0.1 confirmed", "Mozilla/5.0IP 10.0.0.1 confirmed"),
        ("\x00" * 2000, ""),
    ],
    ids=["nul", "line break", "only nul"],
)
def test_control_characters_in_the_user_agent_are_dropped_from_the_evidence(
    client, profile, catalog, agent, kept, django_capture_on_commit_callbacks
):
    """PostgreSQL refused the NUL byte with a 500 on every page that writes."""
    links = tokens(profile, catalog["newsletter"])

    one_click = client.post(
        page("unsubscribe", links["unsubscribe"]), ONE_CLICK, HTTP_USER_AGENT=agent
    )
    saved = client.post(
        page("manage", links["manage"]),
        {"purpose": [catalog["newsletter"].pk], "action": "save"},
        HTTP_USER_AGENT=agent,
    )
    with django_capture_on_commit_callbacks(execute=True):
        signed_up = client.post(
            reverse("preference_center:subscribe", args=[profile.slug]),
            {"email": STRANGER, "topic": [catalog["events"].pk]},
            HTTP_USER_AGENT=agent,
        )

    assert (one_click.status_code, saved.status_code, signed_up.status_code) == (200, 302, 200)
    agents = set(ContactPointConsent.history.values_list("user_agent", flat=True))
    assert agents == {kept}
    assert set(DataConsent.objects.values_list("user_agent", flat=True)) <= {kept}


# ---------------------------------------------------------------------------------------------
# Logs


@pytest.mark.parametrize(
    "request_line,logged",
    [
        (
            "GET /preferences/?email=jane.doe%40example.org&lang=nl HTTP/1.1",
            "GET /preferences/?email=[redacted]&lang=nl HTTP/1.1",
        ),
        (
            "GET /subscribe/acme/?email=Jane.Doe@Example.ORG HTTP/1.1",
            "GET /subscribe/acme/?email=[redacted] HTTP/1.1",
        ),
        (
            "POST /unsubscribe/abc:def/?to=jane.doe%40example.org HTTP/1.1",
            "POST /unsubscribe/[redacted]/?to=[redacted] HTTP/1.1",
        ),
    ],
)
def test_runserver_request_lines_are_logged_without_addresses(caplog, request_line, logged):
    """`django.server` logs every request line, query string included."""
    with caplog.at_level(logging.INFO, logger="django.server"):
        logging.getLogger("django.server").info('"%s" %s %s', request_line, "200", "512")

    (record,) = caplog.records
    assert record.getMessage() == f'"{logged}" 200 512'
