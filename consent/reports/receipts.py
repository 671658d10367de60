"""Consent receipts (DESIGN §3.9) for a contact-point consent or a data consent.

Two formats of one set of facts (`ReceiptFacts`):
* `kantara`: a Kantara Initiative Consent Receipt v1.1 (validates against the schema kept in
  consent/standards/; `consentTimestamp` in seconds);
* `iso27560`: an ISO/IEC TS 27560 consent record as JSON-LD with W3C DPV terms, its `@context`
  inline so it expands without fetching anything.

The person is named by a pseudonym only — the keyed HMAC of the address
(`consent.addresses.normalized_address_hash`), never the address itself. A receipt's id is
derived from the record and its latest history row, so it changes when the record changes.
"""

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path

from django.conf import settings

from consent.addresses import normalized_address_hash
from consent.models import ComplianceProfile, ContactPointConsent, DataConsent

FORMATS = ("kantara", "iso27560")
KANTARA_VERSION = "KI-CR-v1.1.0"
ISO27560_VERSION = "ISO/IEC TS 27560:2023"
KANTARA_SCHEMA_PATH = (
    Path(__file__).resolve().parent.parent
    / "standards"
    / "kantara-consent-receipt-v1_1-schema.json"
)
DPV = "https://w3id.org/dpv#"
# Fields of ISO/IEC TS 27560 that DPV has no property for (DPV's own 27560 guide namespace).
ISO27560 = "https://w3id.org/dpv/guides/consent-27560#"
RECEIPT_NAMESPACE = uuid.UUID("6f1c1d2e-8a7b-5c4d-9e0f-27560c0a5e17")

CHANNEL_PII = {
    "email": "email address",
    "sms": "telephone number",
    "voice": "telephone number",
    "custom": "contact identifier",
}
STATUS_EVENT = {  # status → (event type, DPV consent status)
    "opted_in": ("given", "ConsentGiven"),
    "opted_out": ("withdrawn", "ConsentWithdrawn"),
    "not_set": ("not_set", "ConsentUnknown"),
    "active": ("given", "ConsentGiven"),
    "cancelled": ("withdrawn", "ConsentWithdrawn"),
    "expired": ("expired", "ConsentExpired"),
    "anonymized": ("withdrawn", "ConsentWithdrawn"),
}
LEGAL_BASIS = {
    "consent": "Consent",
    "contract": "Contract",
    "legal_obligation": "LegalObligation",
    "vital_interests": "VitalInterest",
    "public_task": "PublicInterest",
    "legitimate_interests": "LegitimateInterest",
}


@dataclass(frozen=True)
class ReceiptFacts:
    receipt_id: str
    captured_at: datetime
    principal: str  # the keyed hash of the address
    controller: dict
    notice_url: str
    notice_version: str
    service: str
    purposes: list[dict]  # {"name", "kind"}
    pii_category: str
    legal_basis: str
    retention: str  # ISO 8601 duration or end date, "" when unlimited
    status: str  # the record's status / status reason
    source: str
    withdrawal: str
    language: str = "en"


@cache
def kantara_schema() -> dict:
    """The Kantara v1.1 schema, as published: its leading `//` comment lines stripped."""
    lines = KANTARA_SCHEMA_PATH.read_text(encoding="utf-8").splitlines()
    return json.loads("\n".join(line for line in lines if not line.lstrip().startswith("//")))


def jurisdiction() -> str:
    return getattr(settings, "CONSENT_JURISDICTION", "EU")


def _controller(profile: ComplianceProfile | None) -> dict:
    """The PII controller: the CONSENT_CONTROLLER setting, named after the profile's sender."""
    configured = dict(getattr(settings, "CONSENT_CONTROLLER", {}))
    name = (profile.sender_name or profile.name) if profile else ""
    email = getattr(settings, "DEFAULT_FROM_EMAIL", "")
    return {
        "name": configured.get("name") or name or "The controller",
        "contact": configured.get("contact", "Data protection officer"),
        "address": configured.get("address", {}),
        "email": configured.get("email", email),
        "phone": configured.get("phone", ""),
        "url": configured.get("url", ""),
    }


def _withdrawal(profile: ComplianceProfile | None) -> str:
    text = "The preference center: the link at the bottom of every message, or "
    return text + (f"/subscribe/{profile.slug}/ to ask for a new one" if profile else "the DPO")


def _receipt_id(kind: str, record) -> str:
    latest = record.history.order_by("-history_id").values_list("history_id", flat=True).first()
    return str(uuid.uuid5(RECEIPT_NAMESPACE, f"{kind}:{record.pk}:{latest}"))


def contact_point_facts(record: ContactPointConsent) -> ReceiptFacts:
    profile = record.purpose.profile
    purposes = [{"name": record.purpose.name, "kind": record.purpose.kind}]
    if record.topic_id:
        purposes.append({"name": f"{record.purpose.name} – {record.topic.name}", "kind": "topic"})
    return ReceiptFacts(
        receipt_id=_receipt_id("contact-point-consent", record),
        captured_at=record.captured_at,
        principal=normalized_address_hash(record.value),
        controller=_controller(profile),
        notice_url=profile.notice_url,
        notice_version=record.notice_version,
        service=profile.name,
        purposes=purposes,
        pii_category=CHANNEL_PII.get(record.channel, "contact identifier"),
        legal_basis="consent",
        retention=record.expires_at.isoformat() if record.expires_at else "",
        status=record.status,
        source=record.source,
        withdrawal=_withdrawal(profile),
    )


def data_consent_facts(consent: DataConsent) -> ReceiptFacts:
    policy = consent.policy
    subject = consent.contact or consent.lead
    address = (subject.email or "").lower() if subject is not None else ""
    # Without an address the pseudonym is the keyed hash of the subject's reference.
    principal = normalized_address_hash(
        address or f"{subject._meta.model_name}:{subject.pk}" if subject else str(consent.pk)
    )
    profile = ComplianceProfile.objects.filter(data_policy=policy).first()
    profile = profile or ComplianceProfile.objects.filter(is_default=True).first()
    status = consent.state if consent.state == "active" else consent.status_reason
    return ReceiptFacts(
        receipt_id=_receipt_id("data-consent", consent),
        captured_at=consent.given_at,
        principal=principal,
        controller=_controller(profile),
        notice_url=policy.notice_url,
        notice_version=consent.notice_version,
        service=policy.name,
        purposes=[{"name": policy.name, "kind": f"level {consent.consent_level}"}],
        pii_category="contact details",
        legal_basis=policy.legal_basis,
        retention=consent.valid_until.isoformat() if consent.valid_until else "",
        status=status,
        source=consent.source,
        withdrawal=_withdrawal(profile),
    )


def kantara_receipt(facts: ReceiptFacts) -> dict:
    controller = facts.controller
    event, _ = STATUS_EVENT.get(facts.status, ("given", ""))
    return {
        "version": KANTARA_VERSION,
        "jurisdiction": jurisdiction(),
        "consentTimestamp": int(facts.captured_at.timestamp()),
        "collectionMethod": facts.source,
        "consentReceiptID": facts.receipt_id,
        "language": facts.language,
        "piiPrincipalId": facts.principal,
        "piiControllers": [
            {
                "piiController": controller["name"],
                "onBehalf": False,
                "contact": controller["contact"],
                "address": controller["address"],
                "email": controller["email"],
                "phone": controller["phone"],
                **({"piiControllerUrl": controller["url"]} if controller["url"] else {}),
            }
        ],
        "policyUrl": facts.notice_url,
        "services": [
            {
                "service": facts.service,
                "purposes": [
                    {
                        "purpose": purpose["name"],
                        "consentType": "EXPLICIT" if facts.legal_basis == "consent" else "IMPLICIT",
                        "purposeCategory": [purpose["kind"]],
                        "piiCategory": [facts.pii_category],
                        "primaryPurpose": index == 0,
                        "termination": (
                            f"Until withdrawn ({event}); expires {facts.retention}"
                            if facts.retention
                            else f"Until withdrawn ({event})"
                        ),
                        "thirdPartyDisclosure": False,
                    }
                    for index, purpose in enumerate(facts.purposes)
                ],
            }
        ],
        "sensitive": False,
        "spiCat": [],
    }


ISO27560_CONTEXT = {
    "dpv": DPV,
    "dct": "http://purl.org/dc/terms/",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "iso27560": ISO27560,
    "record_id": "@id",
    "type": "@type",
    "schema_version": {"@id": "dct:conformsTo"},
    "pii_principal_id": {"@id": "dpv:hasDataSubject", "@type": "@id"},
    "controller": {"@id": "dpv:hasDataController"},
    "name": {"@id": "dpv:hasName"},
    "contact": {"@id": "dpv:hasContact"},
    "notice": {"@id": "dpv:hasNotice"},
    "url": {"@id": "dct:source", "@type": "@id"},
    "version": {"@id": "dct:hasVersion"},
    "purposes": {"@id": "dpv:hasPurpose", "@container": "@set"},
    "category": {"@id": "dct:type"},
    "legal_basis": {"@id": "dpv:hasLegalBasis", "@type": "@id"},
    "jurisdiction": {"@id": "dpv:hasJurisdiction"},
    "retention": {"@id": "dpv:hasStorageCondition"},
    "withdrawal_method": {"@id": "iso27560:withdrawal_method"},
    "event": {"@id": "iso27560:event"},
    "time": {"@id": "dpv:isIndicatedAtTime", "@type": "xsd:dateTime"},
    "event_type": {"@id": "iso27560:event_type"},
    "state": {"@id": "dpv:hasConsentStatus", "@type": "@id"},
    "collection_method": {"@id": "dpv:isIndicatedBy"},
    "pii_category": {"@id": "dpv:hasPersonalData"},
}


def iso27560_record(facts: ReceiptFacts) -> dict:
    event, dpv_status = STATUS_EVENT.get(facts.status, ("given", "ConsentUnknown"))
    controller = facts.controller
    return {
        "@context": ISO27560_CONTEXT,
        "record_id": f"urn:uuid:{facts.receipt_id}",
        "type": "dpv:ConsentRecord",
        "schema_version": ISO27560_VERSION,
        "pii_principal_id": f"urn:consent-crm:principal:hmac-sha256:{facts.principal}",
        "controller": {
            "type": "dpv:DataController",
            "name": controller["name"],
            "contact": controller["email"] or controller["contact"],
        },
        "notice": {
            "type": "dpv:PrivacyNotice",
            "url": facts.notice_url or None,
            "version": facts.notice_version,
        },
        "purposes": [
            {"type": "dpv:Purpose", "name": purpose["name"], "category": purpose["kind"]}
            for purpose in facts.purposes
        ],
        "pii_category": facts.pii_category,
        "legal_basis": f"dpv:{LEGAL_BASIS.get(facts.legal_basis, 'Consent')}",
        "jurisdiction": jurisdiction(),
        "retention": {
            "type": "dpv:StorageDuration" if facts.retention else "dpv:StorageCondition",
            "name": f"until {facts.retention}" if facts.retention else "until withdrawn",
        },
        "withdrawal_method": facts.withdrawal,
        "event": {
            "time": facts.captured_at.isoformat(),
            "event_type": event,
            "state": f"dpv:{dpv_status}",
            "collection_method": facts.source,
        },
    }


def receipt(record, *, format: str) -> dict:
    """The receipt of a contact-point consent or a data consent in `format` (FORMATS)."""
    if format not in FORMATS:
        raise ValueError(f"Unknown receipt format {format!r}.")
    facts = (
        contact_point_facts(record)
        if isinstance(record, ContactPointConsent)
        else data_consent_facts(record)
    )
    return kantara_receipt(facts) if format == "kantara" else iso27560_record(facts)
