"""Address normalization shared by subjects and contact points."""

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from email_validator import EmailNotValidError, validate_email


def normalize_email(value: str) -> str:
    """Trimmed, syntax-checked, domain lower-cased (the local part keeps its case)."""
    value = (value or "").strip()
    try:
        result = validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValidationError(f"Enter a valid email address ({exc}).", code="invalid") from exc
    return result.normalized


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
