"""The admin's "Check an address" and "Check as of…" pages: one decision, explained in words and
laid out with names and labels (the subjects against the required level, the records read)."""

from dataclasses import dataclass
from datetime import datetime

from common.audit import Source
from consent.decision.rules import ALLOW_FIELDS, Decision, Reason
from consent.decision.single import decide
from consent.decision.wording import FORBIDS, decision_in_words
from consent.models import ContactPointConsent, Purpose, Topic
from subjects.models import ConsentLevel, DataProtectionConsent


@dataclass(frozen=True)
class AddressCheck:
    decision: Decision
    reason_label: str
    why: str
    required_level: str
    subjects: list[dict]
    records: list[dict]
    as_of: datetime | None


def address_check(
    *,
    channel: str,
    value: str,
    purpose: Purpose,
    topic: Topic | None = None,
    as_of: datetime | None = None,
) -> AddressCheck:
    """The explained decision for one address, now or as of a past instant (ValidationError
    for an invalid address or instant, keyed by field)."""
    decision = decide(
        channel=channel, value=value, purpose=purpose, topic=topic, explain=True, as_of=as_of
    )
    explanation = decision.explanation
    return AddressCheck(
        decision=decision,
        reason_label=_label(Reason, decision.reason),
        why=decision_in_words(decision),
        required_level=ConsentLevel(explanation.required_level).label,
        subjects=[
            _subject_row(subject, explanation.required_level) for subject in explanation.subjects
        ],
        records=[_record_row(record) for record in explanation.records],
        as_of=as_of,
    )


def _label(choices, code) -> str:
    return dict(choices.choices).get(code, str(code).replace("_", " "))


def _subject_row(subject, required_level: int) -> dict:
    return {
        "type": subject.type.capitalize(),
        "name": subject.name,
        "data_protection_consent": _label(DataProtectionConsent, subject.data_protection_consent),
        "restricted": subject.restricted,
        "consent_level": ConsentLevel(subject.consent_level).label,
        "below_required": subject.consent_level < required_level,
        "forbids": ", ".join(FORBIDS[name] for name in ALLOW_FIELDS if not getattr(subject, name))
        or "—",
    }


def _record_row(record) -> dict:
    return {
        "label": record.label,
        "status": _label(ContactPointConsent.Status, record.status),
        "effective_status": _label(ContactPointConsent.Status, record.effective_status),
        "source": _label(Source, record.source),
        "captured_at": record.captured_at,
        "notice_version": record.notice_version or "—",
    }
