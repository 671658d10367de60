import re

import pytest
from django.core.exceptions import ValidationError
from email_validator import EmailNotValidError, validate_email
from email_validator.rfc_constants import ATEXT
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from subjects.normalize import normalize_email, normalize_phone, simple_email

ATEXT_CHARS = "".join(ch for ch in map(chr, range(33, 127)) if re.fullmatch(f"[{ATEXT}]", ch))


def test_email_is_trimmed_and_domain_lowercased_keeping_local_part():
    assert normalize_email("  Ada.Lovelace@Example.ORG ") == "Ada.Lovelace@example.org"


@pytest.mark.parametrize("value", ["", "no-at-sign", "a@", "a b@example.org", "x@-bad-.com"])
def test_invalid_email_is_rejected(value):
    with pytest.raises(ValidationError):
        normalize_email(value)


def test_phone_in_default_region_becomes_e164(settings):
    settings.PHONE_DEFAULT_REGION = "NL"
    assert normalize_phone("06 12345678") == "+31612345678"
    assert normalize_phone("+32 470 12 34 56") == "+32470123456"


@pytest.mark.parametrize("value", ["12", "abc", "+31 6 1"])
def test_invalid_phone_is_rejected(value):
    with pytest.raises(ValidationError):
        normalize_phone(value)


# ---------------------------------------------------------------------------------------------
# The email shortcut: exactly email_validator's answer, or no answer (the full path then)

ATOM = st.text(alphabet=ATEXT_CHARS, min_size=1, max_size=12)
LABEL = st.one_of(
    st.text(alphabet="abcXYZ019-", min_size=1, max_size=10),
    st.sampled_from(["xn--bcher-kva", "xn--zz", "ab--cd", "a" * 63, "a" * 64, "-a", "a-"]),
)
TLD = st.one_of(
    st.sampled_from(["org", "COM", "nl", "local", "test", "onion", "arpa", "invalid", "1", "c1"]),
    st.sampled_from(["localhost", "xn--p1ai", "a", "Xn--bcher-kva"]),
    LABEL,
)
SHAPED = st.builds(
    lambda locals_, labels, tld, pad, at: (
        pad + ".".join(locals_) + at + ".".join([*labels, tld]) + pad
    ),
    st.lists(st.one_of(ATOM, st.sampled_from(["", "INFO", "Support", "a" * 70])), max_size=4),
    st.lists(LABEL, max_size=5),
    TLD,
    st.sampled_from(["", " ", "\t", "\n"]),
    st.sampled_from(["@", "@@", "", "@\u0301", "@."]),
)
# Mostly valid addresses, so that the shortcut's own answers are exercised often.
WELL_FORMED = st.builds(
    lambda local, labels, tld: f"{local}@{'.'.join([*labels, tld])}",
    st.one_of(ATOM, st.sampled_from(["INFO", "Support", "webMaster", "ada.lovelace"])),
    st.lists(st.text(alphabet="abcXYZ019", min_size=1, max_size=8), min_size=1, max_size=3),
    st.sampled_from(["org", "COM", "nl", "local", "test", "xn--p1ai", "c1"]),
)
ANY_TEXT = st.text(alphabet=ATEXT_CHARS + '.@-"<> \u00e9\u0301\uff0e\u3002', max_size=40)


def _reference(value: str) -> tuple[str, str]:
    """("ok", normalized) or ("error", message): email_validator alone, as before."""
    try:
        return "ok", validate_email(value.strip(), check_deliverability=False).normalized
    except EmailNotValidError as exc:
        return "error", f"Enter a valid email address ({exc})."


def _ours(value: str) -> tuple[str, str]:
    try:
        return "ok", normalize_email(value)
    except ValidationError as exc:
        return "error", exc.messages[0]


@hypothesis_settings(max_examples=1500, deadline=None)
@given(st.one_of(WELL_FORMED, SHAPED, ANY_TEXT))
def test_email_shortcut_answers_exactly_like_email_validator(value):
    assert _ours(value) == _reference(value)
    shortcut = simple_email(value.strip())
    if shortcut is not None:  # it only answers for addresses email_validator accepts
        assert ("ok", shortcut) == _reference(value)


@pytest.mark.parametrize(
    "value",
    [
        "Ada.Lovelace@Example.ORG",
        "INFO@Example.org",  # RFC 2142 role names are lower-cased by email_validator
        "a@XN--BCHER-KVA.ch",  # Punycode comes back as Unicode
        "a@localhost.localhost",
        "a@example.local",
        "a@b.c1",
        "a@ab--cd.org",
        "a..b@example.org",
        "a@example..org",
        ("x" * 64) + "@" + ("d" * 60) + "." + ("e" * 60) + "." + ("f" * 60) + ".org",
        ("x" * 200) + "@example.org",
        ("x" * 250) + "@example.org",
        "a@" + ("d" * 63 + ".") * 4 + "org",
        "a@" + "d" * 64 + ".org",
    ],
)
def test_email_shortcut_edge_cases(value):
    assert _ours(value) == _reference(value)


def test_email_shortcut_takes_the_common_shape():
    assert simple_email("Ada.Lovelace@Example.ORG") == "Ada.Lovelace@example.org"
    assert simple_email('"quoted"@example.org') is None  # the full path decides
    assert simple_email("ada@exämple.org") is None
