"""Why a decision came out as it did (DESIGN §3.4 "Explanation"): the rule that decided, the
suppression, the subjects holding the address against the purpose's required level, and the
contact-point records consulted.

Purposes and topics are named by their base (English) texts, whatever the language of the
request: the sentences around them are English, and an explanation as of a past instant can
only name them so (their history keeps the base texts).

Built from the very facts `evaluate` read, so every path that gathered them for an explanation
(single, bulk, as of a past instant) explains alike. It names no data consent: confidentiality
is untouched.
"""

import dataclasses
from dataclasses import dataclass
from datetime import datetime

from django.utils import translation

from common.audit import base_language
from consent.decision.questions import Question
from consent.decision.rules import (
    ALLOW_FIELDS,
    RULE_OF_REASON,
    AddressFacts,
    Decision,
    Holder,
)


@dataclass(frozen=True)
class ExplainedRecord:
    id: int
    purpose: int
    topic: int | None
    status: str  # as stored
    effective_status: str  # as the rules read it: an expired opt-in is not set
    source: str
    captured_at: datetime | None
    notice_version: str
    label: str = ""  # the purpose's or topic's name, for the wording (not in the API)


@dataclass(frozen=True)
class Explanation:
    rule: str  # "2" … "11" (and "10a"): the §3.4 rule that decided
    suppressed: bool
    required_level: int
    subjects: tuple[Holder, ...]
    records: tuple[ExplainedRecord, ...]
    # The purpose and topic asked about, and the channel: for the wording (not in the API).
    channel: str = ""
    purpose_name: str = ""
    topic_name: str = ""
    purpose_kind: str = ""
    # As of a past instant: the address was suppressed since by an erasure (its past is gone).
    erased: bool = False

    def as_dict(self) -> dict:
        """The API's `explanation` (DESIGN §3.4): exactly the documented fields."""
        return {
            "rule": self.rule,
            "suppressed": self.suppressed,
            "required_level": self.required_level,
            "subjects": [_subject_dict(subject) for subject in self.subjects],
            "records": [_record_dict(record) for record in self.records],
        }


def with_explanation(decision: Decision, facts: AddressFacts, question: Question) -> Decision:
    """`decision` carrying its explanation; `facts` gathered for it (holders, record details)."""
    return dataclasses.replace(decision, explanation=explain(facts, question, decision))


def explain(facts: AddressFacts, question: Question, decision: Decision) -> Explanation:
    if facts.holders is None:
        raise ValueError("These facts were gathered without the explanation's details.")
    with translation.override(base_language()):
        return _explain(facts, question, decision)


def _explain(facts: AddressFacts, question: Question, decision: Decision) -> Explanation:
    purpose, topic = question.purpose, question.topic
    return Explanation(
        rule=RULE_OF_REASON[decision.reason],
        suppressed=facts.suppressed,
        required_level=purpose.required_level,
        subjects=facts.holders,
        records=_consulted(facts, question),
        channel=facts.channel,
        purpose_name=purpose.name,
        topic_name=topic.name if topic is not None else "",
        purpose_kind=purpose.kind,
        erased=facts.erased,
    )


def _consulted(facts: AddressFacts, question: Question) -> tuple[ExplainedRecord, ...]:
    """The records the question read, in its order (purpose, topic, tracking), once each."""
    labels = {(question.purpose.pk, None): question.purpose.name}
    if question.topic is not None:
        labels[(question.purpose.pk, question.topic.pk)] = question.topic.name
    if question.tracking is not None:
        labels.setdefault((question.tracking.pk, None), question.tracking.name)
    consulted, seen = [], set()
    for key in question.record_keys:
        record = facts.records.get(key)
        if record is None or record.id in seen:
            continue
        seen.add(record.id)
        consulted.append(
            ExplainedRecord(
                id=record.id,
                purpose=key[0],
                topic=key[1],
                status=record.stored_status,
                effective_status=record.status,
                source=record.source,
                captured_at=record.captured_at,
                notice_version=record.notice_version or "",
                label=labels[key],
            )
        )
    return tuple(consulted)


def _subject_dict(subject: Holder) -> dict:
    return {
        "type": subject.type,
        "id": subject.id,
        "data_protection_consent": subject.data_protection_consent,
        "restricted": subject.restricted,
        "consent_level": subject.consent_level,
        **{name: getattr(subject, name) for name in ALLOW_FIELDS},
    }


def _record_dict(record: ExplainedRecord) -> dict:
    return {
        "id": record.id,
        "purpose": record.purpose,
        "topic": record.topic,
        "status": record.status,
        "effective_status": record.effective_status,
        "source": record.source,
        "captured_at": record.captured_at,
        "notice_version": record.notice_version,
    }
