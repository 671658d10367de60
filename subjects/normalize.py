"""Address normalization shared by subjects and contact points."""

import re
from functools import lru_cache

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from email_validator import EmailNotValidError, validate_email
from email_validator.rfc_constants import (
    ATEXT,
    CASE_INSENSITIVE_MAILBOX_NAMES,
    DOMAIN_MAX_LENGTH,
    EMAIL_MAX_LENGTH,
)

# The common shape: an ASCII dot-atom local part and an ASCII host name. For it email_validator
# returns the local part unchanged (lower-cased for the RFC 2142 role names) and the domain as
# its domain check normalizes it, which depends on the domain alone and is cached; the length
# checks are repeated here. Anything else, and any address the shortcut cannot vouch for, takes
# the full path, which also words the error: results and messages are email_validator's.
_SIMPLE_EMAIL = re.compile(f"([{ATEXT}]+(?:\\.[{ATEXT}]+)*)@([A-Za-z0-9.-]+)")
_ROLE_NAMES = frozenset(CASE_INSENSITIVE_MAILBOX_NAMES)


def normalize_email(value: str) -> str:
    """Trimmed, syntax-checked, domain lower-cased (the local part keeps its case)."""
    value = (value or "").strip()
    fast = simple_email(value)
    if fast is not None:
        return fast
    try:
        result = validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValidationError(f"Enter a valid email address ({exc}).", code="invalid") from exc
    return result.normalized


def simple_email(value: str) -> str | None:
    """`validate_email(value).normalized` for the common shape; None: take the full path."""
    match = _SIMPLE_EMAIL.fullmatch(value)
    if match is None:
        return None
    local, domain_part = match.groups()
    if len(domain_part) > DOMAIN_MAX_LENGTH:
        return None
    domain = _email_domain(domain_part)
    if domain is None:
        return None
    normalized_domain, ascii_domain = domain
    if local.lower() in _ROLE_NAMES:
        local = local.lower()
    normalized = f"{local}@{normalized_domain}"
    longest = max(len(value), len(normalized.encode()), len(local) + 1 + len(ascii_domain))
    return normalized if longest <= EMAIL_MAX_LENGTH else None


@lru_cache(maxsize=65_536)
def _email_domain(domain_part: str) -> tuple[str, str] | None:
    """(normalized domain, its IDNA ASCII form) as email_validator finds them; None if invalid."""
    try:
        checked = validate_email(f"a@{domain_part}", check_deliverability=False)
    except EmailNotValidError:
        return None
    return checked.domain, checked.ascii_domain


def email_key(value: str) -> str:
    """Case-insensitive comparison key of a normalized email."""
    return value.lower()


def normalize_phone(value: str, region: str | None = None) -> str:
    """E.164, numbers without a country code read in PHONE_DEFAULT_REGION."""
    value = (value or "").strip()
    try:
        number = phonenumbers.parse(value, region or settings.PHONE_DEFAULT_REGION)
    except phonenumbers.NumberParseException as exc:
        raise ValidationError("Enter a valid phone number.", code="invalid") from exc
    if not phonenumbers.is_valid_number(number):
        raise ValidationError("Enter a valid phone number.", code="invalid")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
