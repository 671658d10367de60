"""The canonical, PII-free form of a history row, and the hashes of the chain.

Only fields that nothing ever scrubs are sealed: ids, codes, states, levels, flags, dates,
source, reason codes and the acting user's id. Names, addresses of subjects, notes, IP
addresses, user agents and free-text descriptions are left out, so anonymization can scrub
them from the history without changing a digest. A contact point's address is sealed as its
keyed hash (`consent.addresses`); its history rows are deleted, not scrubbed, on erasure.
"""

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cached_property

from consent.addresses import address_hasher
from consent.models import ContactPointConsent, DataConsent, Suppression
from subjects.models import DERIVED_FIELDS, PREFERENCE_FIELDS, Contact, Lead

HISTORY_META = ("history_date", "history_type", "history_user_id", "history_source")
SUBJECT_FIELDS = (
    "id",
    *PREFERENCE_FIELDS,
    "restricted",
    "inherent_basis",
    *DERIVED_FIELDS,
    "anonymized_at",
    "created_at",
)


@dataclass(frozen=True)
class SealedModel:
    """Which fields of a model's history rows are sealed (`address` is hashed first)."""

    model: type
    fields: tuple[str, ...]
    address: str | None = None

    # Cached: simple-history builds a new manager on every `Model.history` access (about 1 ms).
    @cached_property
    def history(self):
        return self.model.history.model

    @cached_property
    def label(self) -> str:
        return self.history._meta.label_lower

    @property
    def columns(self) -> tuple[str, ...]:
        return ("history_id", *self.fields)


SEALED_MODELS = (
    SealedModel(
        ContactPointConsent,
        (
            "id",
            "channel",
            "value",
            "purpose_id",
            "topic_id",
            "status",
            "source",
            "reason",
            "captured_by_id",
            "captured_at",
            "notice_version",
            "expires_at",
            "created_at",
            *HISTORY_META,
            "history_change_reason",
        ),
        address="value",
    ),
    # A data consent's change reason may be free text (it is redacted on anonymization): its
    # `status_reason` is the sealed reason code.
    SealedModel(
        DataConsent,
        (
            "id",
            "lead_id",
            "contact_id",
            "policy_id",
            "consent_level",
            "substatus_id",
            "given_at",
            "valid_until",
            "state",
            "status_reason",
            "confidential",
            "owner_user_id",
            "owner_team_id",
            "source",
            "captured_by_id",
            "notice_version",
            "created_at",
            *HISTORY_META,
        ),
    ),
    SealedModel(
        Suppression,
        (
            "id",
            "channel",
            "value_hash",
            "created_at",
            "reason",
            "created_by_id",
            *HISTORY_META,
            "history_change_reason",
        ),
    ),
    SealedModel(
        Lead,
        (
            *SUBJECT_FIELDS,
            "status",
            "source",
            "converted_contact_id",
            *HISTORY_META,
            "history_change_reason",
        ),
    ),
    SealedModel(
        Contact,
        (*SUBJECT_FIELDS, "account_id", "state", *HISTORY_META, "history_change_reason"),
    ),
)
SEALED = {sealed.label: sealed for sealed in SEALED_MODELS}


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
NULL = "\\N"


def field_text(value) -> str:
    """A value's canonical text: `\\N` for NULL, t/f, integers, dates as YYYY-MM-DD, instants
    as microseconds since the epoch, text with `\\` and `|` escaped (the separator) — simple
    enough for PostgreSQL to produce the same text (`consent.ledger.sql`)."""
    if value is None:
        return NULL
    if value is True or value is False:
        return "t" if value else "f"
    if isinstance(value, datetime):
        return str((value - EPOCH) // MICROSECOND)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, int):
        return str(value)
    return str(value).replace("\\", "\\\\").replace("|", "\\|")


def row_digester(sealed: SealedModel) -> Callable[[tuple], str]:
    """digest(row) for rows of `sealed.columns` (history_id first), as read from the database:
    SHA-256 of the label and each field's canonical text, joined by `|`."""
    hasher = address_hasher()
    address_at = sealed.columns.index(sealed.address) if sealed.address else None
    label = sealed.label

    def digest(row: tuple) -> str:
        texts = [label, *map(field_text, row)]
        if address_at is not None:
            texts[address_at + 1] = hasher(row[address_at])
        return hashlib.sha256("|".join(texts).encode()).hexdigest()

    return digest


def erase_digest(label: str, history_id: int) -> str:
    """The digest of an erase entry: which sealed row erasure removed."""
    return hashlib.sha256(f"erase|{label}|{history_id}".encode()).hexdigest()


def entry_hash(prev_hash: str, sequence: int, digest: str) -> str:
    return hashlib.sha256(f"{prev_hash}:{sequence}:{digest}".encode()).hexdigest()
