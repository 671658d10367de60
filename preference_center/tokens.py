"""The signed tokens of the public links (DESIGN §3.6).

Each use has its own salt, so a token made for one use never opens another; every token holds
the profile, the channel and the normalized address (never a database id alone), is signed
with SECRET_KEY and expires. Reading a tampered, expired, cross-salt or malformed token raises
`InvalidLink`, and so does a token naming an object that no longer exists (see the views):
the pages answer all of them the same way.

Tokens are signed, not encrypted: whoever holds a link can decode the address it was made for
(the address its owner already knows). They must therefore never be logged (see `log_filters`).
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core import signing

MANAGE_SALT = "preference_center.manage"
CONFIRM_SALT = "preference_center.confirm"
UNSUBSCRIBE_SALT = "preference_center.unsubscribe"
USER_AGENT_MAX_LENGTH = 300  # keeps confirmation links a sane length


class InvalidLink(Exception):
    """Tampered, expired, made for another use, or naming something that no longer exists."""


def link_max_age() -> timedelta:
    return timedelta(days=settings.PREFERENCE_LINK_MAX_AGE_DAYS)


def confirm_max_age() -> timedelta:
    return timedelta(days=settings.PREFERENCE_CONFIRM_MAX_AGE_DAYS)


def _dumps(payload: dict, salt: str) -> str:
    return signing.dumps(payload, salt=salt, compress=True)


def _loads(token: str, salt: str, max_age: timedelta) -> dict:
    try:
        payload = signing.loads(token, salt=salt, max_age=max_age)
    except (signing.BadSignature, ValueError) as exc:  # SignatureExpired is a BadSignature
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
    """A manage-preferences link: one address in one profile."""

    profile_id: int
    channel: str
    value: str

    def dumps(self) -> str:
        return _dumps({"p": self.profile_id, "c": self.channel, "v": self.value}, MANAGE_SALT)

    @classmethod
    def loads(cls, token: str) -> "AddressLink":
        payload = _loads(token, MANAGE_SALT, link_max_age())
        return cls(_field(payload, "p", int), _field(payload, "c", str), _field(payload, "v", str))


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
        return _dumps(payload, UNSUBSCRIBE_SALT)

    @classmethod
    def loads(cls, token: str) -> "UnsubscribeLink":
        payload = _loads(token, UNSUBSCRIBE_SALT, link_max_age())
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
        return _dumps(self.payload(), CONFIRM_SALT)

    @classmethod
    def loads(cls, token: str) -> "SignUpRequest":
        return cls.from_payload(_loads(token, CONFIRM_SALT, confirm_max_age()))
