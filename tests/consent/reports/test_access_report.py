"""The complete access report (GDPR Art. 15(1)): consent/reports/access_report.py, the timeline
in words (consent/reports/wording.py), the printable page and the PDF (consent/reports/pdf.py)."""

import io

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from pypdf import PdfReader

from consent.models import ComplianceProfile
from consent.reports.access_report import (
    DEFAULT_RIGHTS,
    report_visible_to,
    subject_access_report,
)
from consent.reports.pdf import access_report_pdf
from tests import factories

pytestmark = pytest.mark.django_db
ART_15_KEYS = {"purposes", "legal_basis_label", "recipients", "retention", "source", "rights"}


@pytest.fixture
def configured():
    policy = factories.policy(
        name="Customer care",
        description="Answering your questions and keeping your account.",
        legal_basis="contract",
        recipients_text="Our help-desk provider Zendesk (processor).",
        retention_text="Two years after your last order.",
        source_text="The order form on our web shop.",
        rights_text="Write to privacy@acme.example to exercise your rights.",
    )
    profile = ComplianceProfile.objects.get(is_default=True)
    profile.recipients_text = "Our mailing provider."
    profile.rights_text = "Unsubscribe with the link in every mail."
    profile.save()
    contact = factories.contact(first_name="Maud", last_name="Wagner")
    factories.consent(subject=contact, policy_obj=policy, source="form")
    commercial = profile.purposes.get(kind="commercial")
    factories.cp_consent(value=contact.email, purpose_obj=commercial, status="opted_in")
    return {"policy": policy, "contact": contact, "commercial": commercial}


def test_each_policy_states_every_art_15_1_section_with_the_configured_texts(configured, dpo):
    report = subject_access_report(subject=configured["contact"], user=dpo)
    (section,) = report["policies"]
    assert set(section) >= ART_15_KEYS
    assert section == {
        **section,
        "policy_name": "Customer care",
        "purposes": "Answering your questions and keeping your account.",
        "legal_basis_label": "Contract",
        "recipients": "Our help-desk provider Zendesk (processor).",
        "retention": "Two years after your last order.",
        "source": "The order form on our web shop.",
        "rights": "Write to privacy@acme.example to exercise your rights.",
    }


def test_contact_point_purposes_use_the_profile_texts_and_defaults(configured, dpo):
    report = subject_access_report(subject=configured["contact"], user=dpo)
    (section,) = report["purposes"]
    assert set(section) >= ART_15_KEYS
    assert section["purpose_name"] == configured["commercial"].name
    assert section["recipients"] == "Our mailing provider."
    assert section["rights"] == "Unsubscribe with the link in every mail."
    assert section["legal_basis_label"].startswith("Consent (Art. 6(1)(a))")
    assert "prove" in section["retention"]  # the default text


def test_unconfigured_policies_get_defaults_naming_every_right(contact, dpo):
    factories.consent(subject=contact, policy_obj=factories.policy(validity_days=730))
    (section,) = subject_access_report(subject=contact, user=dpo)["policies"]
    assert section["rights"] == DEFAULT_RIGHTS
    for right in ("rectify", "erase", "restrict", "object", "complaint with a supervisory"):
        assert right in section["rights"]
    assert section["retention"].startswith("730 days from when it was given")
    assert "Recorded through: Internal." in section["source"]


def test_the_timeline_speaks_in_names_and_labels(configured, dpo):
    report = subject_access_report(subject=configured["contact"], user=dpo)
    consent_entry = next(e for e in report["timeline"] if e["object_type"] == "data_consent")
    assert consent_entry["what"] == "Data consent under “Customer care”"
    changes = {c["field"]: c for c in consent_entry["changes"]}
    assert changes["policy"]["new"] == configured["policy"].pk  # the id stays for integrators
    assert changes["policy"]["new_label"] == "Customer care"
    assert changes["policy"]["field_label"] == "Policy"
    assert changes["consent_level"]["new_label"] == "(4) Marketing"
    assert changes["contact"]["new_label"] == "Maud Wagner"
    assert consent_entry["source_label"] == "Form"
    *_, subject_entry = (e for e in report["timeline"] if e["object_type"] == "contact")
    assert subject_entry["what"] == "Contact Maud Wagner"
    assert subject_entry["action_label"] == "Created"


def test_confidential_consents_are_left_out_for_a_user_who_may_not_see_them(
    configured, dpo, service_desk
):
    contact = configured["contact"]
    secret = factories.policy(name="Secret policy")
    factories.consent(
        subject=contact, policy_obj=secret, confidential=True, owner_team=Group.objects.create()
    )
    full = subject_access_report(subject=contact, user=dpo)
    desk = subject_access_report(subject=contact, user=service_desk)
    assert {p["policy_name"] for p in full["policies"]} == {"Customer care", "Secret policy"}
    assert {p["policy_name"] for p in desk["policies"]} == {"Customer care"}
    assert "Secret policy" not in str(desk)
    # A report kept by an access request is filtered the same way for its reader.
    assert report_visible_to(full, service_desk)["policies"] == desk["policies"]
    assert "Secret policy" not in str(report_visible_to(full, service_desk))
    assert len(report_visible_to(full, dpo)["data_consents"]) == 2


def test_the_printable_page_shows_the_art_15_sections(configured, admin_client):
    url = reverse("admin:subjects_contact_access_report", args=[configured["contact"].pk])
    html = admin_client.get(url).content.decode()
    for text in (
        "Why we hold your data and what you can do",
        "Two years after your last order.",
        "Our help-desk provider Zendesk (processor).",
        "Write to privacy@acme.example to exercise your rights.",
        "Data consent under “Customer care”",
    ):
        assert text in html
    pdf_url = reverse("admin:subjects_contact_access_report_pdf", args=[configured["contact"].pk])
    assert pdf_url in html


def test_the_pdf_holds_the_report(configured, dpo):
    pdf = access_report_pdf(subject_access_report(subject=configured["contact"], user=dpo))
    assert pdf.startswith(b"%PDF")
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert "Maud Wagner" in text
    assert "Two years after your last order." in text


def test_the_pdf_download_in_the_admin_applies_confidentiality(configured, client, make_user):
    contact = configured["contact"]
    factories.consent(
        subject=contact,
        policy_obj=factories.policy(name="Secret policy"),
        confidential=True,
        owner_team=Group.objects.create(),
    )
    client.force_login(make_user("desk2", role="Service desk"))
    response = client.get(reverse("admin:subjects_contact_access_report_pdf", args=[contact.pk]))
    assert response["Content-Type"] == "application/pdf"
    assert "attachment" in response["Content-Disposition"]
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(response.content)).pages)
    assert "Maud Wagner" in text and "Customer care" in text
    assert "Secret policy" not in text


def test_the_api_report_keeps_its_fields_and_adds_the_art_15_sections(configured, as_dpo):
    contact = configured["contact"]
    report = as_dpo.get(f"/api/v1/contacts/{contact.pk}/access-report/").json()
    assert {
        "subject_type",
        "subject",
        "data_consents",
        "contact_point_consents",
        "timeline",
    } <= set(report)
    assert report["policies"][0]["retention"] == "Two years after your last order."
    assert report["purposes"][0]["recipients"] == "Our mailing provider."
    assert report["data_consents"][0]["consent_level_label"] == "(4) Marketing"


def test_the_dpo_sets_the_texts_through_the_api(as_dpo, contact, dpo):
    policy = factories.policy()
    response = as_dpo.patch(
        f"/api/v1/data-policies/{policy.pk}/", {"retention_text": "Five years."}, format="json"
    )
    assert response.status_code == 200, response.content
    profile = ComplianceProfile.objects.get(is_default=True)
    response = as_dpo.patch(
        f"/api/v1/compliance-profiles/{profile.pk}/",
        {"rights_text": "Mail dpo@acme.example."},
        format="json",
    )
    assert response.json()["rights_text"] == "Mail dpo@acme.example."
    factories.consent(subject=contact, policy_obj=policy)
    assert subject_access_report(subject=contact, user=dpo)["policies"][0]["retention"] == (
        "Five years."
    )
