"""DESIGN §3.7 (timeline, access report) read through the API as an integrator reads it."""

from django.contrib.auth.models import Group
from django.urls import reverse

from consent.models import ComplianceProfile, ContactPointConsent
from subjects.models import Account
from subjects.services import account_save
from tests import factories


def test_access_report_references_related_objects_by_their_contract_names(as_dpo, dpo, policy):
    """§4: `policy`, `contact`, `account`, `owner_user`, `owner_team`, `purpose`… are ids."""
    account = account_save(account=Account(name="Acme"))
    contact = factories.contact(account=account)
    team = Group.objects.create(name="Legal")
    consent = factories.consent(
        subject=contact, policy_obj=policy, confidential=True, owner_team=team
    )
    commercial = ComplianceProfile.objects.get(is_default=True).purposes.get(kind="commercial")
    record = factories.cp_consent(value=contact.email, purpose_obj=commercial, status="opted_in")

    report = as_dpo.get(f"/api/v1/contacts/{contact.pk}/access-report/").json()

    assert report["subject"]["account"] == account.pk
    assert "account_id" not in report["subject"]
    row = report["data_consents"][0]
    assert (row["id"], row["policy"], row["contact"], row["lead"]) == (
        consent.pk,
        policy.pk,
        contact.pk,
        None,
    )
    assert (row["owner_team"], row["owner_user"]) == (team.pk, None)
    assert not {key for key in row if key.endswith("_id")}
    cp_row = report["contact_point_consents"][0]
    assert (cp_row["id"], cp_row["purpose"], cp_row["topic"]) == (record.pk, commercial.pk, None)
    assert not {key for key in cp_row if key.endswith("_id")}


def test_timeline_names_changed_foreign_keys_as_the_api_does(as_dpo, policy):
    contact = factories.contact()
    factories.consent(subject=contact, policy_obj=policy)
    entries = as_dpo.get(f"/api/v1/contacts/{contact.pk}/timeline/").json()
    created = next(e for e in entries if e["object_type"] == "data_consent")
    changes = {c["field"]: (c["old"], c["new"]) for c in created["changes"]}
    assert changes["policy"] == (None, policy.pk)
    assert changes["contact"] == (None, contact.pk)
    assert not {name for name in changes if name.endswith("_id")}


def test_timeline_entries_carry_when_what_source_reason_and_who(as_dpo, dpo, contact):
    as_dpo.patch(f"/api/v1/contacts/{contact.pk}/", {"allow_sms": False}, format="json")
    entries = as_dpo.get(f"/api/v1/contacts/{contact.pk}/timeline/").json()
    newest = entries[0]
    assert set(newest) >= {"at", "changes", "source", "reason", "by"}
    assert newest["by"] == dpo.username
    assert newest["source"] == "api"
    assert {"field": "allow_sms", "old": True, "new": False} in newest["changes"]
    times = [e["at"] for e in entries]
    assert times in (sorted(times), sorted(times, reverse=True))  # one chronological list


def test_staff_record_verbal_consent_for_a_lead_phone(client, client_for, service_desk, commercial):
    lead = factories.lead()
    client.force_login(service_desk)
    response = client.post(
        reverse("admin:subjects_lead_verbal_consent", args=[lead.pk]),
        {
            "address": f"sms|{lead.phone}",
            "purpose": commercial.pk,
            "status": "opted_in",
            "requested_by": "customer at the counter",
            "note": "Wants text offers",
        },
    )
    assert response.status_code == 302
    record = ContactPointConsent.objects.get(channel="sms", value=lead.phone)
    assert (record.status, record.source, record.captured_by, record.requested_by) == (
        "opted_in",
        "verbal",
        service_desk,
        "customer at the counter",
    )
    entries = client_for(service_desk).get(f"/api/v1/leads/{lead.pk}/timeline/").json()
    verbal = next(e for e in entries if e["object_type"] == "contact_point_consent")
    assert (verbal["source"], verbal["by"]) == ("verbal", service_desk.username)
    assert "Wants text offers" in verbal["reason"]
