"""A decision in words, for the admin (DESIGN §3.4, §5: "decisions in words"): one sentence per
reason code, built from the explanation alone — names and labels, never ids or codes.

    needs (4) Marketing; Maud Wagner holds (1) Consent
    opted out of Newsletter on 3 March 2026 (preference center)
    suppressed: erased after opting out
"""

from datetime import datetime

from django.utils import timezone

from common.audit import Source
from consent.decision.explain import ExplainedRecord, Explanation
from consent.decision.rules import Decision, Reason
from consent.models import Channel, ContactPointConsent, Purpose
from subjects.models import ConsentLevel, DataProtectionConsent

Status = ContactPointConsent.Status

# What a subject's flag forbids, in words (rule 6).
FORBIDS = {
    "allow_email": "email",
    "allow_bulk_email": "bulk email",
    "allow_sms": "SMS",
    "allow_phone": "phone calls",
    "allow_tracking": "tracking",
}


def decision_in_words(decision: Decision) -> str:
    """The sentence saying why (or why not) for an explained decision."""
    explanation = decision.explanation
    if explanation is None:
        raise ValueError("Only an explained decision can be put in words (explain=True).")
    sentence = _SENTENCES.get(decision.reason)
    if sentence is None:  # a reason this wording does not know yet: its label, never its code
        return _reason_label(decision.reason)
    return sentence(explanation)


def _reason_label(reason: str) -> str:
    labels = dict(Reason.choices)
    return labels.get(reason, reason.replace("_", " ")).lower()


def _disabled(explanation: Explanation) -> str:
    return f"{explanation.purpose_name} is not checked (its consent model is disabled)"


def _suppressed(explanation: Explanation) -> str:
    if explanation.erased:
        return "suppressed: erased after opting out (what the address held before is erased)"
    return "suppressed: the address may never be opted in again (erased after opting out)"


def _restricted(explanation: Explanation) -> str:
    parts = []
    for subject in explanation.subjects:
        if subject.restricted:
            parts.append(f"{_name(subject)} is restricted (GDPR Art. 18)")
        elif subject.data_protection_consent == DataProtectionConsent.RESTRICT:
            parts.append(f"{_name(subject)}'s data protection consent is Restrict")
    return "; ".join(parts) or "a subject with this address is restricted"


def _level(explanation: Explanation) -> str:
    required = explanation.required_level
    short = [
        f"{_name(subject)} holds {ConsentLevel(subject.consent_level).label}"
        for subject in explanation.subjects
        if subject.consent_level < required
    ]
    return "; ".join([f"needs {ConsentLevel(required).label}", *short])


def _preference(explanation: Explanation) -> str:
    flags = _relevant_flags(explanation)
    parts = [
        f"{_name(subject)} does not allow {FORBIDS[flag]}"
        for subject in explanation.subjects
        for flag in flags
        if not getattr(subject, flag)
    ]
    return "; ".join(parts) or "a subject with this address forbids it"


def _relevant_flags(explanation: Explanation) -> list[str]:
    """The flags rule 6 reads for this channel and purpose kind."""
    flags = {
        Channel.EMAIL: ["allow_email"]
        + (["allow_bulk_email"] if explanation.purpose_kind == Purpose.Kind.COMMERCIAL else []),
        Channel.SMS: ["allow_sms"],
        Channel.VOICE: ["allow_phone"],
    }.get(explanation.channel, [])
    if explanation.purpose_kind == Purpose.Kind.TRACKING:
        flags.append("allow_tracking")
    return flags


def _opted_out(label_of):
    def sentence(explanation: Explanation) -> str:
        record = _record(explanation, label_of(explanation))
        return f"opted out of {label_of(explanation)}{_when_and_how(record)}"

    return sentence


def _no_opt_in(label_of):
    def sentence(explanation: Explanation) -> str:
        label = label_of(explanation)
        record = _record(explanation, label)
        if record is not None and record.status == Status.OPTED_IN:
            return f"no opt-in to {label}: the opt-in{_when_and_how(record)} has expired"
        return f"no opt-in to {label}"

    return sentence


def _opted_in(explanation: Explanation) -> str:
    parts = []
    for label in filter(None, (explanation.purpose_name, explanation.topic_name)):
        parts.append(f"{label}{_when_and_how(_record(explanation, label))}")
    return "opted in to " + " and to ".join(parts)


def _not_opted_out(explanation: Explanation) -> str:
    return f"not opted out of {explanation.purpose_name} (no opt-in needed)"


def _notice_outdated(explanation: Explanation) -> str:
    record = _record(explanation, explanation.topic_name or explanation.purpose_name)
    version = f" ({record.notice_version})" if record is not None and record.notice_version else ""
    return f"opted in under an older notice{version}: a fresh consent is needed"


def _purpose(explanation: Explanation) -> str:
    return explanation.purpose_name


def _topic(explanation: Explanation) -> str:
    return explanation.topic_name


_SENTENCES = {
    Reason.PURPOSE_DISABLED: _disabled,
    Reason.SUPPRESSED: _suppressed,
    Reason.SUBJECT_RESTRICTED: _restricted,
    Reason.INSUFFICIENT_CONSENT_LEVEL: _level,
    Reason.SUBJECT_PREFERENCE: _preference,
    Reason.PURPOSE_OPTED_OUT: _opted_out(_purpose),
    Reason.TOPIC_OPTED_OUT: _opted_out(_topic),
    Reason.NO_PURPOSE_OPT_IN: _no_opt_in(_purpose),
    Reason.NO_TOPIC_OPT_IN: _no_opt_in(_topic),
    "notice_outdated": _notice_outdated,
    Reason.OPTED_IN: _opted_in,
    Reason.NOT_OPTED_OUT: _not_opted_out,
}


def _record(explanation: Explanation, label: str) -> ExplainedRecord | None:
    return next((record for record in explanation.records if record.label == label), None)


def _when_and_how(record: ExplainedRecord | None) -> str:
    if record is None or record.captured_at is None:
        return ""
    code = record.source or ""
    source = dict(Source.choices).get(code, code.replace("_", " ")).lower()
    how = f" ({source})" if source else ""
    return f" on {day(record.captured_at)}{how}"


def day(instant: datetime) -> str:
    """3 March 2026, in the site's time zone."""
    local = timezone.localtime(instant)
    return f"{local.day} {local:%B %Y}"


def _name(subject) -> str:
    return subject.name or f"a {subject.type}"
