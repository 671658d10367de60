"""Addresses: the stored (normalized) form of an address per channel, and its keyed hash.

Emails are fully lower-cased, phone numbers become E.164, custom ids are stripped. The hash is an
HMAC-SHA256 keyed with `SUPPRESSION_HASH_KEY`: suppressions, receipts and the ledger hold it
instead of the address.
"""

import hashlib
import hmac
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import ValidationError

from consent.models import (
    Channel,
    Suppression,
)
from consent.models.contact_point import ADDRESS_MAX_LENGTH
from subjects.normalize import normalize_email, normalize_phone


def normalize_address(channel: str, value: str) -> str:
    """The stored form of an address; field errors (`channel`, `value`) for invalid input.

    Emails are fully lower-cased (subjects keep the local part's case and are compared on
    `Lower("email")`), phone numbers become E.164, custom ids are stripped.
    """
    if not isinstance(channel, str) or channel not in _CHANNELS:
        raise field_error("channel", f"Unknown channel {channel!r}.")
    if not isinstance(value, str):
        raise field_error("value", "Enter the address as text.")
    try:
        return _NORMALIZERS[channel](value)
    except ValidationError as exc:
        raise ValidationError({"value": exc}) from exc


def field_error(field: str, message: str, code: str = "invalid") -> ValidationError:
    """A field-keyed error that keeps its code (API clients and tests branch on it)."""
    return ValidationError({field: ValidationError(message, code=code)})


def _normalize_custom(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValidationError("Enter an identifier.", code="required")
    if not value.isprintable():  # a NUL or control character no database column should hold
        raise ValidationError("Enter an identifier without control characters.", code="invalid")
    if len(value) > ADDRESS_MAX_LENGTH:
        raise ValidationError(f"At most {ADDRESS_MAX_LENGTH} characters.", code="max_length")
    return value


_CHANNELS = frozenset(Channel.values)


_NORMALIZERS: dict[str, Callable[[str], str]] = {
    Channel.EMAIL: lambda value: normalize_email(value).lower(),
    Channel.SMS: normalize_phone,
    Channel.VOICE: normalize_phone,
    Channel.CUSTOM: _normalize_custom,
}


def normalized_address_hash(value: str) -> str:
    """HMAC-SHA256 (hex) of an already normalized address, keyed with its own secret."""
    return hmac.digest(settings.SUPPRESSION_HASH_KEY.encode(), value.encode(), "sha256").hex()


def address_hasher() -> Callable[[str], str]:
    """`normalized_address_hash` for many addresses (audiences, bulk checks, loads): the same
    HMAC-SHA256 (RFC 2104) with the keyed inner and outer states computed once and copied per
    address instead of re-derived from the key on every call — about 3× faster."""
    key = settings.SUPPRESSION_HASH_KEY.encode()
    block = hashlib.sha256().block_size
    if len(key) > block:
        key = hashlib.sha256(key).digest()
    key = key.ljust(block, b"\0")
    inner = hashlib.sha256(bytes(byte ^ 0x36 for byte in key))
    outer = hashlib.sha256(bytes(byte ^ 0x5C for byte in key))

    def address_hash(value: str) -> str:
        digest = inner.copy()
        digest.update(value.encode())
        result = outer.copy()
        result.update(digest.digest())
        return result.hexdigest()

    return address_hash


def address_hash(channel: str, value: str) -> str:
    return normalized_address_hash(normalize_address(channel, value))


def is_suppressed(channel: str, value: str) -> bool:
    return Suppression.objects.filter(
        channel=channel, value_hash=address_hash(channel, value)
    ).exists()


def suppression_for(channel: str, value: str) -> Suppression | None:
    """The suppression of a normalized address, if there is one (the admin's lookup)."""
    return Suppression.objects.filter(
        channel=channel, value_hash=address_hash(channel, value)
    ).first()
