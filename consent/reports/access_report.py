"""The access report of a data subject (GDPR Art. 15, DESIGN §3.7).

Everything held about the subject and its addresses, the timeline in words, and what Art. 15(1)
requires beside the data — for each data policy and each contact-point purpose: the purposes
and legal basis, the recipients, the retention, the source of the data, and the rights and how
to exercise them (texts the DPO sets per policy and per compliance profile, or the defaults
below). One JSON-ready dict feeds the API, the printable page, the PDF and the copy a completed
access request keeps; confidential consents the reader may not see are left out (§3.2).
"""

import json
from collections import defaultdict

from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Model
from django.utils import timezone

from common.audit import Source
from consent.models import (
    ComplianceProfile,
    ContactPointConsent,
    DataConsent,
    DataPolicy,
    Purpose,
)
from consent.reports.timeline import (
    _contact_point_records,
    _model_dict,
    subject_timeline,
)
from consent.reports.wording import timeline_in_words
from subjects.models import Subject

DEFAULT_RECIPIENTS = (
    "Our staff who need the data for this purpose, and the service providers who process it "
    "on our behalf under a data processing agreement (Art. 28 GDPR). We do not sell it."
)
DEFAULT_SOURCE = "Collected from you directly, through the channel named beside each record."
DEFAULT_RIGHTS = (
    "You may ask us at any time to rectify inaccurate data (Art. 16), to erase it (Art. 17), "
    "to restrict its processing (Art. 18), to receive it in a portable format (Art. 20) and you "
    "may object to its processing (Art. 21) or withdraw your consent (Art. 7(3)). To exercise "
    "these rights, reply to any of our messages, use the preference link in our e-mails, or "
    "write to our data protection officer. You also have the right to lodge a complaint with "
    "a supervisory authority (Art. 77), in particular in the Member State where you live."
)
DEFAULT_PROFILE_RETENTION = (
    "Your choices for this address are kept while we may contact you there, and afterwards as "
    "long as needed to prove them (Art. 7(1)); an opt-out is kept so we never contact you again."
)
# The lawful basis a contact-point purpose rests on, by its consent model.
PURPOSE_LEGAL_BASIS = {
    Purpose.ConsentModel.RESTRICTIVE: "Consent (Art. 6(1)(a)): we contact you only if you opt in.",
    Purpose.ConsentModel.NON_RESTRICTIVE: (
        "Legitimate interests (Art. 6(1)(f)): we may contact you unless you opted out."
    ),
    Purpose.ConsentModel.DISABLED: (
        "Contract or legal obligation (Art. 6(1)(b)-(c)): messages needed for our service to you."
    ),
}
RIGHTS = ["rectification", "erasure", "restriction", "objection", "complaint"]


def _policy_retention(policy: DataPolicy) -> str:
    if policy.retention_text:
        return policy.retention_text
    kept = "; afterwards it is kept inactive as proof that consent was given (Art. 7(1))."
    if policy.validity_days is None:
        return f"Until you withdraw it{kept}"
    return f"{policy.validity_days} days from when it was given, or until you withdraw it{kept}"


def _sources(labels) -> str:
    return ", ".join(sorted({Source(code).label if code in Source else code for code in labels}))


def policy_section(policy: DataPolicy, consents: list[DataConsent]) -> dict:
    recorded = _sources(c.source for c in consents)
    return {
        "policy": policy.pk,
        "policy_name": policy.name,
        "purposes": policy.description or policy.name,
        "legal_basis": policy.legal_basis,
        "legal_basis_label": policy.get_legal_basis_display(),
        "recipients": policy.recipients_text or DEFAULT_RECIPIENTS,
        "retention": _policy_retention(policy),
        "source": policy.source_text or f"{DEFAULT_SOURCE} Recorded through: {recorded}.",
        "rights": policy.rights_text or DEFAULT_RIGHTS,
        "notice_url": policy.notice_url,
        "notice_version": policy.notice_version,
    }


def purpose_section(purpose: Purpose, records: list[ContactPointConsent]) -> dict:
    profile: ComplianceProfile = purpose.profile
    recorded = _sources(r.source for r in records)
    topics = sorted({r.topic.name for r in records if r.topic_id})
    return {
        "purpose": purpose.pk,
        "purpose_name": purpose.name,
        "profile": profile.pk,
        "profile_name": profile.name,
        "kind_label": purpose.get_kind_display(),
        "topics": topics,
        "purposes": f"{purpose.get_kind_display()} messages: {purpose.name}"
        + (f" ({', '.join(topics)})" if topics else ""),
        "legal_basis": purpose.consent_model,
        "legal_basis_label": PURPOSE_LEGAL_BASIS[purpose.consent_model],
        "recipients": profile.recipients_text or DEFAULT_RECIPIENTS,
        "retention": profile.retention_text or DEFAULT_PROFILE_RETENTION,
        "source": profile.source_text or f"{DEFAULT_SOURCE} Recorded through: {recorded}.",
        "rights": profile.rights_text or DEFAULT_RIGHTS,
        "notice_url": profile.notice_url,
        "notice_version": profile.notice_version,
    }


def _labels(obj: Model, *names: str) -> dict:
    return {f"{name}_label": getattr(obj, f"get_{name}_display")() for name in names}


def _consent_row(consent: DataConsent) -> dict:
    return {
        **_model_dict(consent),
        "policy_name": consent.policy.name,
        "legal_basis": consent.policy.legal_basis,
        "substatus_name": consent.substatus.name if consent.substatus else None,
        **_labels(consent, "consent_level", "state", "status_reason", "source"),
        "legal_basis_label": consent.policy.get_legal_basis_display(),
    }


def _record_row(record: ContactPointConsent) -> dict:
    return {
        **_model_dict(record),
        "purpose_name": record.purpose.name,
        "topic_name": record.topic.name if record.topic else None,
        **_labels(record, "channel", "status"),
        "source_label": Source(record.source).label if record.source in Source else record.source,
    }


def subject_access_report(*, subject: Subject, user) -> dict:
    """Everything held about a subject (Art. 15), for `user` (confidentiality applied)."""
    consents = list(
        DataConsent.objects.for_subject(subject)
        .visible_to(user)
        .select_related("policy", "substatus")
        .order_by("given_at")
    )
    records = list(_contact_point_records(subject).select_related("purpose__profile"))
    by_policy, by_purpose = defaultdict(list), defaultdict(list)
    for consent in consents:
        by_policy[consent.policy].append(consent)
    for record in records:
        by_purpose[record.purpose].append(record)
    report = {
        "subject_type": subject.subject_type,
        "subject_name": str(subject),
        "subject": _model_dict(subject),
        "generated_at": timezone.now(),
        "generated_by": user.get_username() if user.is_authenticated else None,
        "policies": [policy_section(p, c) for p, c in by_policy.items()],
        "purposes": [purpose_section(p, r) for p, r in by_purpose.items()],
        "data_consents": [_consent_row(consent) for consent in consents],
        "contact_point_consents": [_record_row(record) for record in records],
        "timeline": timeline_in_words(
            subject_timeline(subject=subject, user=user), subject_name=str(subject)
        ),
    }
    # One JSON form for the API, the pages, the PDF and the copy an access request keeps.
    return json.loads(json.dumps(report, cls=DjangoJSONEncoder))


def report_visible_to(report: dict, user) -> dict:
    """A stored report as `user` may read it: confidential consents they may not see (and their
    timeline entries and policy sections) are left out, as in a report made for them (§3.2)."""
    ids = [row["id"] for row in report.get("data_consents", [])]
    visible = set(
        DataConsent.objects.filter(pk__in=ids).visible_to(user).values_list("pk", flat=True)
    )
    consents = [row for row in report.get("data_consents", []) if row["id"] in visible]
    policies = {row["policy"] for row in consents}
    return {
        **report,
        "data_consents": consents,
        "policies": [p for p in report.get("policies", []) if p["policy"] in policies],
        "timeline": [
            entry
            for entry in report.get("timeline", [])
            if entry["object_type"] != "data_consent" or entry["object_id"] in visible
        ],
    }
