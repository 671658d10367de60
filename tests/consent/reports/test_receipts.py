"""Consent receipts (DESIGN §3.9): Kantara v1.1 (validated against the published schema) and
ISO/IEC TS 27560 JSON-LD with DPV terms (expanded offline), never naming the address."""

import json
from pathlib import Path

import jsonschema
import pytest
from pyld import jsonld

from consent.addresses import normalized_address_hash
from consent.reports.receipts import KANTARA_SCHEMA_PATH, kantara_schema, receipt
from tests import factories

pytestmark = pytest.mark.django_db

REPOSITORY = Path(__file__).resolve().parents[3]
SHARED_SCHEMA = (
    REPOSITORY.parent / "shared" / "standards" / "kantara-consent-receipt-v1_1-schema.json"
)


def refuse_network(url, options=None):
    raise jsonld.JsonLdError(f"network access refused: {url}", "loading document failed")


def expand_offline(document: dict) -> list:
    return jsonld.expand(document, {"documentLoader": refuse_network})


def cp_url(record) -> str:
    return f"/api/v1/contact-point-consents/{record.pk}/receipt/"


def dc_url(consent) -> str:
    return f"/api/v1/data-consents/{consent.pk}/receipt/"


@pytest.fixture
def record():
    profile = factories.compliance_profile(
        notice_version="3", notice_url="https://example.org/privacy", sender_name="Acme News"
    )
    purpose = factories.purpose(profile=profile)
    return factories.cp_consent(
        value="Ada@Example.org", purpose_obj=purpose, status="opted_in", source="form"
    )


@pytest.mark.skipif(not SHARED_SCHEMA.exists(), reason="no ../shared beside the repository")
def test_the_kept_schema_is_the_published_one():
    assert KANTARA_SCHEMA_PATH.read_bytes() == SHARED_SCHEMA.read_bytes()


def test_kantara_receipt_of_an_opt_in_validates_against_the_schema(as_dpo, record):
    response = as_dpo.get(cp_url(record), {"format": "kantara"})
    assert response.status_code == 200, response.content
    body = response.json()
    jsonschema.validate(body, kantara_schema())
    assert body["consentTimestamp"] == int(record.captured_at.timestamp())
    assert body["piiPrincipalId"] == normalized_address_hash("ada@example.org")
    assert body["policyUrl"] == "https://example.org/privacy"
    assert body["piiControllers"][0]["piiController"] == "Acme News"
    assert body["collectionMethod"] == "form"
    assert "ada@example.org" not in response.content.decode().lower()


def test_a_receipt_missing_a_required_field_fails_the_schema(record):
    body = receipt(record, format="kantara")
    del body["piiControllers"][0]["email"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(body, kantara_schema())


def test_iso27560_record_expands_offline_with_dpv_terms(as_dpo, record):
    response = as_dpo.get(cp_url(record), {"format": "iso27560"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/ld+json")
    document = json.loads(response.content)
    expanded = expand_offline(document)
    assert len(expanded) == 1
    node = expanded[0]
    dpv = "https://w3id.org/dpv#"
    assert node["@type"] == [f"{dpv}ConsentRecord"]
    assert node["@id"].startswith("urn:uuid:")
    principal = normalized_address_hash("ada@example.org")
    assert node[f"{dpv}hasDataSubject"] == [
        {"@id": f"urn:consent-crm:principal:hmac-sha256:{principal}"}
    ]
    assert node[f"{dpv}hasLegalBasis"] == [{"@id": f"{dpv}Consent"}]
    notice = node[f"{dpv}hasNotice"][0]
    assert notice["http://purl.org/dc/terms/hasVersion"] == [{"@value": "3"}]
    event = node["https://w3id.org/dpv/guides/consent-27560#event"][0]
    assert event[f"{dpv}hasConsentStatus"] == [{"@id": f"{dpv}ConsentGiven"}]
    assert event[f"{dpv}isIndicatedBy"] == [{"@value": "form"}]
    assert "ada@example.org" not in response.content.decode().lower()


def test_a_remote_context_would_not_expand_offline():
    with pytest.raises(jsonld.JsonLdError):
        expand_offline({"@context": "https://w3id.org/dpv", "@id": "urn:x"})


def test_the_receipt_id_changes_when_the_record_changes(record):
    first = receipt(record, format="kantara")["consentReceiptID"]
    assert receipt(record, format="kantara")["consentReceiptID"] == first
    changed = factories.cp_consent(
        value="ada@example.org", purpose_obj=record.purpose, status="opted_out"
    )
    assert receipt(changed, format="kantara")["consentReceiptID"] != first
    assert receipt(changed, format="iso27560")["event"]["event_type"] == "withdrawn"


def test_data_consent_receipts_in_both_formats(as_dpo, contact, policy):
    consent = factories.consent(subject=contact, policy_obj=policy)
    kantara = as_dpo.get(dc_url(consent), {"format": "kantara"}).json()
    jsonschema.validate(kantara, kantara_schema())
    assert kantara["piiPrincipalId"] == normalized_address_hash(contact.email.lower())
    iso = as_dpo.get(dc_url(consent), {"format": "iso27560"}).json()
    assert expand_offline(iso)[0]["https://w3id.org/dpv#hasLegalBasis"] == [
        {"@id": "https://w3id.org/dpv#Consent"}
    ]
    assert iso["notice"]["version"] == "v1"


def test_a_confidential_consent_the_user_may_not_see_has_no_receipt(
    client_for, make_user, dpo, contact, policy
):
    consent = factories.consent(
        subject=contact, policy_obj=policy, confidential=True, owner_user=dpo
    )
    viewer = make_user("viewer", perms=["consent.view_dataconsent"])
    assert client_for(viewer).get(dc_url(consent)).status_code == 404
    assert client_for(dpo).get(dc_url(consent)).status_code == 200


def test_an_unknown_format_is_a_400(as_dpo, record):
    response = as_dpo.get(cp_url(record), {"format": "xml"})
    assert response.status_code == 400
    assert "format" in response.json()
