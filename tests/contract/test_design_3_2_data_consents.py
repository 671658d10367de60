"""DESIGN §3.2: data policies, consent levels and data consents as integrators and DPOs see them."""

import html
import re

import pytest
from django.urls import reverse

from tests import factories

API = "/api/v1/"
LEVEL_LABELS = [
    "(0) None",
    "(1) Consent",
    "(2) Transactional",
    "(3) Subscription",
    "(4) Marketing",
    "(5) Profiling",
]
LEGAL_BASES = [
    "consent",
    "contract",
    "legal_obligation",
    "vital_interests",
    "public_task",
    "legitimate_interests",
]


def test_consent_level_labels_exactly_in_the_admin_filter(admin_client):
    page = admin_client.get(reverse("admin:consent_dataconsent_changelist")).text
    offered = [
        html.unescape(label)
        for label in re.findall(r'<a href="\?consent_level__exact=\d"[^>]*>([^<]+)</a>', page)
    ]
    assert offered == LEVEL_LABELS


@pytest.mark.parametrize("basis", LEGAL_BASES)
def test_every_legal_basis_code_is_accepted(as_dpo, basis):
    response = as_dpo.post(
        f"{API}data-policies/",
        {"name": f"Policy {basis}", "consent_level": 3, "legal_basis": basis},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["legal_basis"] == basis


def test_data_policy_fields_and_levels_outside_0_to_5(as_dpo):
    body = as_dpo.post(
        f"{API}data-policies/",
        {"name": "Newsletter", "consent_level": 3, "validity_days": None},
        format="json",
    ).json()
    assert {
        "name",
        "description",
        "consent_level",
        "validity_days",
        "legal_basis",
        "notice_url",
        "notice_version",
        "active",
    } <= set(body)
    refused = as_dpo.post(
        f"{API}data-policies/", {"name": "Bad", "consent_level": 6}, format="json"
    )
    assert refused.status_code == 400 and list(refused.json()) == ["consent_level"]


def test_data_consent_json_fields(as_dpo, contact, policy):
    created = as_dpo.post(
        f"{API}data-consents/", {"contact": contact.pk, "policy": policy.pk}, format="json"
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert {
        "id",
        "lead",
        "contact",
        "policy",
        "consent_level",
        "substatus",
        "given_at",
        "valid_until",
        "state",
        "status_reason",
        "confidential",
        "owner_user",
        "owner_team",
        "source",
        "note",
        "captured_by",
        "ip_address",
        "user_agent",
        "notice_version",
    } <= set(body)
    assert (body["state"], body["status_reason"], body["consent_level"]) == ("active", "active", 4)


def test_a_policy_without_validity_gives_consents_without_expiry(as_dpo, contact):
    forever = factories.policy(validity_days=None)
    body = as_dpo.post(
        f"{API}data-consents/", {"contact": contact.pk, "policy": forever.pk}, format="json"
    ).json()
    assert body["valid_until"] is None
    assert as_dpo.get(f"{API}contacts/{contact.pk}/").json()["max_expiry_date"] is None


def test_an_anonymized_consent_is_terminal(as_dpo, contact, policy):
    consent = factories.consent(subject=contact, policy_obj=policy)
    assert (
        as_dpo.post(f"{API}contacts/{contact.pk}/anonymize/", {}, format="json").status_code == 200
    )
    body = as_dpo.get(f"{API}data-consents/{consent.pk}/").json()
    assert (body["state"], body["status_reason"]) == ("inactive", "anonymized")
    refused = as_dpo.post(f"{API}data-consents/{consent.pk}/reactivate/", {}, format="json")
    assert 400 <= refused.status_code < 500
    assert as_dpo.get(f"{API}data-consents/{consent.pk}/").json()["state"] == "inactive"


def dashboard_count(client, changelist: str, code: str) -> str:
    url = reverse(f"admin:{changelist}_changelist") + f"?view={code}"
    page = client.get(reverse("admin:index")).text
    row = re.search(rf'<a href="{re.escape(url)}">[^<]+</a></th><td[^>]*>([\d,+]+)</td>', page)
    assert row, url
    return row.group(1)


def test_dashboard_counts_include_confidential_consents_the_user_cannot_see(
    client, service_desk, contact, policy, admin_user
):
    factories.consent(subject=contact, policy_obj=policy)
    factories.consent(
        subject=factories.contact(), policy_obj=policy, confidential=True, owner_user=admin_user
    )
    client.force_login(service_desk)
    listed = client.get(reverse("admin:consent_dataconsent_changelist"), {"view": "active"})
    assert len(listed.context["cl"].result_list) == 1  # the list hides it...
    assert dashboard_count(client, "consent_dataconsent", "active") == "2"  # ...the count not
