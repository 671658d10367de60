"""The encrypted tokens of the public links (DESIGN §3.6).

A link travels through mail logs, proxies and click trackers, so its token must say nothing to
whoever reads it. Each token is authenticated encryption (`cryptography`'s Fernet: AES-128-CBC
plus HMAC-SHA256) of a small JSON payload — the profile, the channel, the normalized address,
and for a confirmation link the sign-up's choices and evidence. Decoding it without the key
reveals neither the address nor an IP address or user agent; only the issue time (Fernet's
plaintext timestamp) and a length rounded up to a block of `PAD_TO` bytes are visible.

Keys come from `PREFERENCE_LINK_KEYS` (newest first: the first encrypts, every one decrypts, so
a key can be rotated in without breaking the links already sent); without it, a development key
is derived from SECRET_KEY. Each use (manage / unsubscribe / confirm) gets its own key, derived
from every configured key with HKDF and the use's name, so a token made for one use never opens
another. Tokens expire: `PREFERENCE_LINK_MAX_AGE_DAYS` (manage, unsubscribe) and
`PREFERENCE_CONFIRM_MAX_AGE_DAYS` (confirmation). Reading a tampered, expired, cross-use or
malformed token raises `InvalidLink`, and so does a token naming an object that no longer exists
(see the views): the pages answer all of them the same way.
"""

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

MANAGE = "manage"
UNSUBSCRIBE = "unsubscribe"
CONFIRM = "confirm"
USER_AGENT_MAX_LENGTH = 300  # keeps confirmation links a sane length
PAD_TO = 64  # payloads are padded to a multiple of this, so a length hints less at an address
MAX_TOKEN_LENGTH = 4000  # longer is never one of ours: refused before any decoding
KDF_SALT = b"consent-crm/preference-link/v1"
DEV_KEY_CONTEXT = "dev-default-from-SECRET_KEY"


class InvalidLink(Exception):
    """Tampered, expired, made for another use, or naming something that no longer exists."""


def link_max_age() -> timedelta:
    return timedelta(days=settings.PREFERENCE_LINK_MAX_AGE_DAYS)


def confirm_max_age() -> timedelta:
    return timedelta(days=settings.PREFERENCE_CONFIRM_MAX_AGE_DAYS)


def configured_keys() -> tuple[str, ...]:
    """PREFERENCE_LINK_KEYS, newest first; a key derived from SECRET_KEY when none is set."""
    keys = tuple(key for key in settings.PREFERENCE_LINK_KEYS if key)
    return keys or (f"{DEV_KEY_CONTEXT}:{settings.SECRET_KEY}",)


@lru_cache(maxsize=32)
def _fernet(keys: tuple[str, ...], use: str) -> MultiFernet:
    return MultiFernet([Fernet(_derive(key, use)) for key in keys])


def _derive(key: str, use: str) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=KDF_SALT, info=use.encode())
    return base64.urlsafe_b64encode(hkdf.derive(key.encode()))


def encrypt(payload: dict, use: str) -> str:
    """The token of `payload` for `use`: URL-safe base64 without padding."""
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    text += b" " * (-len(text) % PAD_TO)  # JSON ignores trailing white space
    return _fernet(configured_keys(), use).encrypt(text).decode().rstrip("=")


def decrypt(token: str, use: str, max_age: timedelta) -> dict:
    if not isinstance(token, str) or not token.isascii() or len(token) > MAX_TOKEN_LENGTH:
        raise InvalidLink
    try:
        raw = (token + "=" * (-len(token) % 4)).encode()
        text = _fernet(configured_keys(), use).decrypt(raw, ttl=int(max_age.total_seconds()))
        payload = json.loads(text)
    except (InvalidToken, ValueError, TypeError, binascii.Error) as exc:
        raise InvalidLink from exc
    if not isinstance(payload, dict):
        raise InvalidLink
    return payload


def _field(payload: dict, key: str, kind: type | tuple[type, ...]):
    value = payload.get(key)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise InvalidLink
    return value


def _ids(payload: dict, key: str) -> tuple[int, ...]:
    values = _field(payload, key, list)
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise InvalidLink
    return tuple(values)


@dataclass(frozen=True)
class AddressLink:
    """A manage-preferences link: one address in one profile.

    `opt_out_only` links come from an unsubscribe page. Whoever holds an unsubscribe link may
    not hold the address (a sending system mints them for any address), so such a link can
    switch messages off but never on; opting in takes a fresh link mailed to the address.
    """

    profile_id: int
    channel: str
    value: str
    opt_out_only: bool = False

    def dumps(self) -> str:
        payload = {"p": self.profile_id, "c": self.channel, "v": self.value}
        if self.opt_out_only:
            payload["o"] = 1
        return encrypt(payload, MANAGE)

    @classmethod
    def loads(cls, token: str) -> "AddressLink":
        payload = decrypt(token, MANAGE, link_max_age())
        return cls(
            _field(payload, "p", int),
            _field(payload, "c", str),
            _field(payload, "v", str),
            payload.get("o") == 1,
        )


@dataclass(frozen=True)
class UnsubscribeLink:
    """An unsubscribe link: one address, the purpose (and topic) of the message it came with."""

    profile_id: int
    channel: str
    value: str
    purpose_id: int
    topic_id: int | None = None

    def dumps(self) -> str:
        payload = {"p": self.profile_id, "c": self.channel, "v": self.value, "u": self.purpose_id}
        if self.topic_id is not None:
            payload["t"] = self.topic_id
        return encrypt(payload, UNSUBSCRIBE)

    @classmethod
    def loads(cls, token: str) -> "UnsubscribeLink":
        payload = decrypt(token, UNSUBSCRIBE, link_max_age())
        return cls(
            _field(payload, "p", int),
            _field(payload, "c", str),
            _field(payload, "v", str),
            _field(payload, "u", int),
            _field(payload, "t", int) if "t" in payload else None,
        )


@dataclass(frozen=True)
class SignUpRequest:
    """A sign-up waiting for its double opt-in: the choices and the evidence of the request."""

    profile_id: int
    channel: str
    value: str
    purpose_ids: tuple[int, ...]
    topic_ids: tuple[int, ...]
    requested_at: datetime
    ip_address: str | None
    user_agent: str

    def payload(self) -> dict:
        """JSON-safe (also the argument of the e-mail task)."""
        return {
            "p": self.profile_id,
            "c": self.channel,
            "v": self.value,
            "pu": list(self.purpose_ids),
            "to": list(self.topic_ids),
            "at": int(self.requested_at.timestamp()),
            "ip": self.ip_address or "",
            "ua": self.user_agent[:USER_AGENT_MAX_LENGTH],
        }

    @classmethod
    def from_payload(cls, payload: dict) -> "SignUpRequest":
        return cls(
            _field(payload, "p", int),
            _field(payload, "c", str),
            _field(payload, "v", str),
            _ids(payload, "pu"),
            _ids(payload, "to"),
            datetime.fromtimestamp(_field(payload, "at", int), tz=UTC),
            _field(payload, "ip", str) or None,
            _field(payload, "ua", str),
        )

    def dumps(self) -> str:
        return encrypt(self.payload(), CONFIRM)

    @classmethod
    def loads(cls, token: str) -> "SignUpRequest":
        return cls.from_payload(decrypt(token, CONFIRM, confirm_max_age()))
