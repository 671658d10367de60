import pytest
from django.contrib.auth.models import Group

from consent.models import DataConsent, ErasureRecord
from consent.services.data_consents import data_consent_cancel
from consent.services.erasure import subject_anonymize
from consent.services.subjects import lead_qualify
from subjects import services as subject_services
from subjects.models import Lead
from tests import factories

LEADS = "/api/v1/leads/"


def lead_url(lead, action=""):
    return f"{LEADS}{lead.pk}/{action + '/' if action else ''}"


def ids(response):
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


def test_list_shows_ids_and_derived_fields(as_dpo, lead):
    factories.consent(subject=lead)
    row = as_dpo.get(LEADS).json()["results"][0]
    assert row["id"] == lead.pk
    assert row["status"] == "open"
    assert row["converted_contact"] is None
    assert row["consent_level"] == 4
    assert row["data_protection_consent"] == "explicit"
    assert row["email"] == lead.email


def test_create_normalizes_addresses_and_ignores_derived_fields(as_dpo, dpo):
    response = as_dpo.post(
        LEADS,
        {
            "first_name": "Grace",
            "last_name": "Hopper",
            "email": " Grace@Navy.MIL ",
            "phone": "06 12345678",
            "company_name": "Navy",
            "consent_level": 5,
            "status": "qualified",
            "data_protection_consent": "explicit",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    lead = Lead.objects.get(pk=response.json()["id"])
    assert (lead.email, lead.phone) == ("Grace@navy.mil", "+31612345678")
    assert (lead.consent_level, lead.status, lead.data_protection_consent) == (0, "open", "none")
    history = lead.history.first()
    assert (history.history_user, history.history_source) == (dpo, "api")


@pytest.mark.parametrize(
    ("field", "value"), [("email", "not-an-email"), ("phone", "12"), ("phone", "hello")]
)
def test_invalid_address_is_a_field_error(as_dpo, field, value):
    response = as_dpo.post(LEADS, {"last_name": "X", field: value}, format="json")
    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert response.json()[field][0].startswith("Enter a valid")


def test_wrong_types_and_missing_required_fields_are_field_errors(as_dpo):
    response = as_dpo.post(LEADS, {"first_name": ["a"], "allow_email": "perhaps"}, format="json")
    assert response.status_code == 400
    assert set(response.json()) == {"first_name", "last_name", "allow_email"}


def test_patch_changes_only_the_given_fields(as_dpo, lead):
    response = as_dpo.patch(lead_url(lead), {"allow_sms": False}, format="json")
    assert response.status_code == 200, response.content
    lead.refresh_from_db()
    assert lead.allow_sms is False
    assert lead.allow_email is True
    assert response.json()["allow_sms"] is False


def test_restricting_a_lead_switches_preferences_off(as_dpo, lead):
    response = as_dpo.patch(lead_url(lead), {"restricted": True}, format="json")
    assert response.json()["data_protection_consent"] == "restrict"
    assert response.json()["allow_email"] is False


@pytest.mark.parametrize("transition", ["qualify", "disqualify"])
def test_read_only_lead_refuses_edits_with_409(as_dpo, lead, transition):
    as_dpo.post(lead_url(lead, transition), format="json")
    response = as_dpo.patch(lead_url(lead), {"first_name": "Changed"}, format="json")
    assert response.status_code == 409
    assert "read-only" in response.json()["detail"]
    lead.refresh_from_db()
    assert lead.first_name == "Alan"


def test_delete_is_not_allowed(client_for, admin_user, lead):
    assert client_for(admin_user).delete(lead_url(lead)).status_code == 405
    assert Lead.objects.filter(pk=lead.pk).exists()


def test_qualify_without_conversion_answers_null_contact(as_dpo, lead):
    response = as_dpo.post(lead_url(lead, "qualify"))
    assert response.status_code == 200, response.content
    assert response.json() == {"contact": None}
    lead.refresh_from_db()
    assert lead.status == "qualified"


def test_qualify_and_convert_links_active_consents_to_the_new_contact(as_dpo, lead):
    active = factories.consent(subject=lead)
    cancelled = data_consent_cancel(consent=factories.consent(subject=lead))
    response = as_dpo.post(lead_url(lead, "qualify"), {"convert": True}, format="json")
    assert response.status_code == 200, response.content
    contact_id = response.json()["contact"]
    lead.refresh_from_db()
    assert lead.converted_contact_id == contact_id
    assert DataConsent.objects.get(pk=active.pk).contact_id == contact_id
    assert DataConsent.objects.get(pk=cancelled.pk).contact_id is None
    assert as_dpo.get(lead_url(lead)).json()["converted_contact"] == contact_id


def test_qualify_rejects_a_non_boolean_convert(as_dpo, lead):
    response = as_dpo.post(lead_url(lead, "qualify"), {"convert": "maybe"}, format="json")
    assert response.status_code == 400
    assert "convert" in response.json()
    lead.refresh_from_db()
    assert lead.status == "open"


def test_disqualify_then_reactivate(as_dpo, lead):
    response = as_dpo.post(lead_url(lead, "disqualify"))
    assert response.status_code == 200
    assert response.json()["status"] == "disqualified"
    response = as_dpo.post(lead_url(lead, "reactivate"))
    assert response.json()["status"] == "open"


def test_transition_not_allowed_from_current_state_is_a_conflict(as_dpo, lead):
    response = as_dpo.post(lead_url(lead, "reactivate"))
    assert response.status_code == 409
    assert response.json() == {"detail": "Cannot reactivate a lead that is open."}


def test_anonymize_erases_pii_and_answers_the_erasure_record(as_dpo, lead):
    factories.consent(subject=lead)
    response = as_dpo.post(lead_url(lead, "anonymize"))
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["subject_type"], body["subject_id"]) == ("lead", lead.pk)
    assert body["counts"]["data_consents_anonymized"] == 1
    assert ErasureRecord.objects.filter(pk=body["id"]).exists()
    lead.refresh_from_db()
    assert lead.email is None and lead.anonymized_at is not None
    again = as_dpo.post(lead_url(lead, "anonymize"))
    assert again.status_code == 409
    assert as_dpo.patch(lead_url(lead), {"last_name": "X"}, format="json").status_code == 409


def test_marketer_may_edit_but_not_create_or_anonymize(client_for, marketer, lead):
    client = client_for(marketer)
    assert client.patch(lead_url(lead), {"allow_sms": False}, format="json").status_code == 200
    assert client.post(LEADS, {"last_name": "X"}, format="json").status_code == 403
    assert client.post(lead_url(lead, "anonymize")).status_code == 403
    lead.refresh_from_db()
    assert lead.anonymized_at is None


def test_view_filter_returns_exactly_the_named_view(as_dpo):
    with_consent = factories.lead()
    factories.consent(subject=with_consent)
    without_consent = factories.lead()
    qualified = factories.lead()
    lead_qualify(lead=qualified)
    disqualified = factories.lead()
    subject_services.lead_disqualify(lead=disqualified)
    anonymized = factories.lead()
    subject_anonymize(subject=anonymized)

    def view(code):
        return ids(as_dpo.get(LEADS, {"view": code}))

    assert view("active") == {with_consent.pk, without_consent.pk}
    assert view("missing_consent") == {without_consent.pk}
    assert view("qualified") == {qualified.pk}
    assert view("disqualified") == {disqualified.pk}
    assert view("anonymized") == {anonymized.pk}
    assert view("all") == {
        with_consent.pk,
        without_consent.pk,
        qualified.pk,
        disqualified.pk,
        anonymized.pk,
    }


def test_field_filters(as_dpo):
    plain = factories.lead(email="Someone@Example.org", company_name="Acme")
    other = factories.lead(allow_bulk_email=False)
    assert ids(as_dpo.get(LEADS, {"email": "SOMEONE@example.ORG"})) == {plain.pk}
    assert ids(as_dpo.get(LEADS, {"allow_bulk_email": "false"})) == {other.pk}
    assert ids(as_dpo.get(LEADS, {"company_name": "acm"})) == {plain.pk}
    assert ids(as_dpo.get(LEADS, {"phone": plain.phone.replace("+31", "0")})) == {plain.pk}


def test_timeline_and_access_report(as_dpo, lead):
    factories.consent(subject=lead, note="by phone")
    as_dpo.patch(lead_url(lead), {"allow_sms": False}, format="json")
    timeline = as_dpo.get(lead_url(lead, "timeline"))
    assert timeline.status_code == 200, timeline.content
    entries = timeline.json()
    assert {e["object_type"] for e in entries} == {"lead", "data_consent"}
    assert any(
        c["field"] == "allow_sms" and c["new"] is False for e in entries for c in e["changes"]
    )
    report = as_dpo.get(lead_url(lead, "access-report"))
    assert report.status_code == 200, report.content
    assert report.json()["subject"]["email"] == lead.email
    assert len(report.json()["data_consents"]) == 1


def test_access_report_hides_confidential_consents_from_other_users(client_for, marketer, lead):
    team = Group.objects.create(name="Legal")
    factories.consent(subject=lead, confidential=True, owner_team=team)
    factories.consent(subject=lead)
    report = client_for(marketer).get(lead_url(lead, "access-report")).json()
    assert len(report["data_consents"]) == 1
    marketer.groups.add(team)
    marketer = type(marketer).objects.get(pk=marketer.pk)  # fresh permission cache
    report = client_for(marketer).get(lead_url(lead, "access-report")).json()
    assert len(report["data_consents"]) == 2
