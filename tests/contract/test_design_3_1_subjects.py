"""DESIGN §3.1: the subjects' fields and codes as the API shows them."""

import pytest

from tests import factories

API = "/api/v1/"
PREFERENCES = (
    "allow_email",
    "allow_bulk_email",
    "allow_phone",
    "allow_sms",
    "allow_postal_mail",
    "allow_tracking",
)
COMMON = {
    "first_name",
    "last_name",
    "email",
    "phone",
    *PREFERENCES,
    "restricted",
    "inherent_basis",
    "inherent_basis_note",
    "consent_level",
    "max_expiry_date",
    "data_protection_consent",
}


@pytest.mark.parametrize(
    ("endpoint", "own"),
    [
        ("leads", {"company_name", "status", "converted_contact"}),
        ("contacts", {"account", "state"}),
    ],
)
def test_subject_json_carries_every_design_field_and_preferences_default_true(
    as_dpo, endpoint, own
):
    created = as_dpo.post(f"{API}{endpoint}/", {"last_name": "Doe"}, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert COMMON | own | {"id"} <= set(body)
    assert all(body[name] is True for name in PREFERENCES)
    assert (body["consent_level"], body["max_expiry_date"], body["data_protection_consent"]) == (
        0,
        None,
        "none",
    )
    assert body.get("status", body.get("state")) in ("open", "active")


@pytest.mark.parametrize("endpoint", ["leads", "contacts"])
def test_derived_fields_cannot_be_edited_by_hand(as_dpo, endpoint):
    subject = (factories.lead if endpoint == "leads" else factories.contact)()
    url = f"{API}{endpoint}/{subject.pk}/"
    as_dpo.patch(
        url,
        {
            "consent_level": 5,
            "max_expiry_date": "2099-01-01",
            "data_protection_consent": "explicit",
        },
        format="json",
    )
    body = as_dpo.get(url).json()
    assert (body["consent_level"], body["max_expiry_date"], body["data_protection_consent"]) == (
        0,
        None,
        "none",
    )


def test_a_subject_whose_consents_are_all_inactive_derives_restrict(as_dpo, policy):
    contact = factories.contact()
    consent = factories.consent(subject=contact, policy_obj=policy)
    cancel = as_dpo.post(f"{API}data-consents/{consent.pk}/cancel/", {}, format="json")
    assert cancel.status_code == 200, cancel.content
    body = as_dpo.get(f"{API}contacts/{contact.pk}/").json()
    assert (body["data_protection_consent"], body["consent_level"]) == ("restrict", 0)
    assert not any(body[name] for name in PREFERENCES)


def test_emails_are_compared_case_insensitively_by_the_decision(as_dpo, commercial):
    created = as_dpo.post(
        f"{API}contacts/",
        {"last_name": "Doe", "email": " Jane.Doe@EXAMPLE.org ", "restricted": True},
        format="json",
    )
    assert created.json()["email"] == "Jane.Doe@example.org"
    for value in ("jane.doe@example.org", "JANE.DOE@example.ORG"):
        answer = as_dpo.post(
            f"{API}consent-checks/",
            {"channel": "email", "value": value, "purpose": commercial.pk},
            format="json",
        ).json()
        assert answer["reason"] == "subject_restricted", value


@pytest.mark.parametrize(
    ("status", "action"), [("qualified", "qualify"), ("disqualified", "disqualify")]
)
def test_lead_status_codes_and_their_filter(as_dpo, status, action):
    lead = factories.lead()
    other = factories.lead()
    assert as_dpo.post(f"{API}leads/{lead.pk}/{action}/", {}, format="json").status_code == 200
    listed = as_dpo.get(f"{API}leads/", {"status": status}).json()["results"]
    assert [row["id"] for row in listed] == [lead.pk]
    assert [
        row["id"] for row in as_dpo.get(f"{API}leads/", {"status": "open"}).json()["results"]
    ] == [other.pk]
