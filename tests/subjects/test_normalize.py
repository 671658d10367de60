import pytest
from django.core.exceptions import ValidationError

from subjects.normalize import normalize_email, normalize_phone


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
