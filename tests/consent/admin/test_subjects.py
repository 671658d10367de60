import re
from datetime import timedelta

import pytest
from django.contrib.admin.sites import site
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from common.admin import dpo_views
from consent.models import DataConsent
from consent.services.data_consents import data_consent_cancel
from consent.services.erasure import subject_anonymize
from consent.services.subjects import lead_qualify
from subjects.models import Contact, Lead
from subjects.services import contact_deactivate, lead_disqualify
from tests import factories


def changelist(model, user, **params):
    request = RequestFactory().get("/", params)
    request.user = user
    return site._registry[model].get_changelist_instance(request)


@pytest.fixture
def world(db, policy, admin_user):
    """One subject and consent in each state the DPO views distinguish."""
    today = timezone.localdate()
    w = {}
    w["consenting"] = factories.contact()
    w["expiring"] = factories.consent(
        subject=w["consenting"], policy_obj=policy, valid_until=today + timedelta(days=3)
    )
    w["missing"] = factories.contact()
    w["inactive"] = factories.contact()
    contact_deactivate(contact=w["inactive"])
    w["anonymized"] = factories.contact()
    w["erased_consent"] = factories.consent(subject=w["anonymized"], policy_obj=policy)
    subject_anonymize(subject=w["anonymized"])
    w["cancelled_only"] = factories.contact()
    w["cancelled"] = factories.consent(subject=w["cancelled_only"], policy_obj=policy)
    data_consent_cancel(consent=w["cancelled"])
    w["open_lead"] = factories.lead()
    w["lead_consent"] = factories.consent(
        subject=w["open_lead"], policy_obj=policy, valid_until=today + timedelta(days=400)
    )
    w["bare_lead"] = factories.lead()
    w["disqualified"] = factories.lead()
    lead_disqualify(lead=w["disqualified"])
    w["qualified"] = factories.lead()
    lead_qualify(lead=w["qualified"])
    return w


EXPECTED = {
    (Contact, "active"): {"consenting", "missing", "cancelled_only"},
    (Contact, "all"): {"consenting", "missing", "inactive", "anonymized", "cancelled_only"},
    (Contact, "anonymized"): {"anonymized"},
    (Contact, "missing_consent"): {"missing", "cancelled_only"},
    (Contact, "inactive"): {"inactive"},
    (Lead, "active"): {"open_lead", "bare_lead"},
    (Lead, "all"): {"open_lead", "bare_lead", "disqualified", "qualified"},
    (Lead, "anonymized"): set(),
    (Lead, "disqualified"): {"disqualified"},
    (Lead, "missing_consent"): {"bare_lead"},
    (Lead, "qualified"): {"qualified"},
    (DataConsent, "active"): {"expiring", "lead_consent"},
    (DataConsent, "all"): {"expiring", "lead_consent", "cancelled", "erased_consent"},
    (DataConsent, "expiring_2_weeks"): {"expiring"},
    (DataConsent, "inactive"): {"cancelled", "erased_consent"},
    (DataConsent, "inactive_anonymized"): {"erased_consent"},
    (DataConsent, "inactive_cancelled"): {"cancelled"},
    (DataConsent, "inactive_expired"): set(),
}


@pytest.mark.parametrize(("model", "code"), list(EXPECTED))
def test_data_protection_view_filter_lists_exactly_its_rows(world, admin_user, model, code):
    cl = changelist(model, admin_user, view=code)
    expected = {world[name].pk for name in EXPECTED[(model, code)]}
    assert {obj.pk for obj in cl.result_list} == expected


def test_every_view_code_of_the_design_is_offered_with_its_label():
    labels = {code: label for code, (label, _) in dpo_views(Contact).items()}
    assert labels["missing_consent"] == "Data Protection Contacts Missing Consent"
    assert dpo_views(DataConsent)["expiring_2_weeks"][0] == "Expiring Data Consents - Next 2 weeks"
    assert set(dpo_views(Lead)) == {
        "active",
        "all",
        "anonymized",
        "disqualified",
        "missing_consent",
        "qualified",
    }
    assert len(dpo_views(DataConsent)) == 8


def test_changelists_render_with_bounded_queries(
    world, admin_user, client, django_assert_max_num_queries
):
    client.force_login(admin_user)
    for model in (Contact, Lead, DataConsent):
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        with django_assert_max_num_queries(12):
            response = client.get(url, {"view": "all"})
        assert response.status_code == 200
        assert "Data Protection view" in response.text


def test_dashboard_counts_each_view_and_links_to_it(world, admin_user, client):
    client.force_login(admin_user)
    response = client.get(reverse("admin:index"))
    url = reverse("admin:subjects_contact_changelist") + "?view=missing_consent"
    row = re.search(
        rf'<a href="{re.escape(url)}">Data Protection Contacts Missing Consent</a></th>'
        r"<td[^>]*>([\d,+]+)</td>",
        response.text,
    )
    assert row and row.group(1) == "2"


def test_dashboard_hides_models_the_user_cannot_view(world, make_user, client):
    user = make_user("viewer", perms=["subjects.view_contact"])
    client.force_login(user)
    text = client.get(reverse("admin:index")).text
    assert "Data Protection Contacts Missing Consent" in text
    assert "Active Data Consents" not in text


def test_add_contact_with_invalid_email_shows_form_error_and_writes_nothing(admin_user, client):
    client.force_login(admin_user)
    response = client.post(
        reverse("admin:subjects_contact_add"),
        {
            "last_name": "Broken",
            "email": "not-an-email",
            "phone": "",
        },
    )
    assert response.status_code == 200
    assert "valid email" in response.text
    assert not Contact.objects.exists()


def test_add_contact_through_admin_normalizes_and_records_history(admin_user, client):
    client.force_login(admin_user)
    response = client.post(
        reverse("admin:subjects_contact_add"),
        {
            "last_name": "Curie",
            "email": "Marie@Radium.FR",
            "phone": "0612345678",
            "allow_email": "on",
        },
    )
    assert response.status_code == 302
    contact = Contact.objects.get()
    assert (contact.email, contact.phone) == ("Marie@radium.fr", "+31612345678")
    row = contact.history.get()
    assert (row.history_user, row.history_source) == (admin_user, "internal")


def test_admin_data_consent_add_enforces_confidential_owner(admin_user, client, contact, policy):
    client.force_login(admin_user)
    data = {
        "contact": contact.pk,
        "policy": policy.pk,
        "given_at_0": "2026-01-01",
        "given_at_1": "10:00:00",
        "confidential": "on",
        "source": "internal",
    }
    response = client.post(reverse("admin:consent_dataconsent_add"), data)
    assert response.status_code == 200
    assert "needs a specific owner" in response.text
    assert not DataConsent.objects.exists()
    response = client.post(
        reverse("admin:consent_dataconsent_add"), {**data, "owner_user": admin_user.pk}
    )
    assert response.status_code == 302
    assert DataConsent.objects.get().owner_user == admin_user


def test_read_only_subject_page_refuses_edits(admin_user, client, lead):
    lead_disqualify(lead=lead)
    client.force_login(admin_user)
    url = reverse("admin:subjects_lead_change", args=[lead.pk])
    page = client.get(url)
    assert page.status_code == 200
    assert 'name="first_name"' not in page.text  # rendered read-only
    response = client.post(url, {"last_name": "Changed"})
    assert response.status_code == 403
    lead.refresh_from_db()
    assert lead.last_name != "Changed"


def test_anonymize_needs_confirmation_and_a_post(dpo, client, contact):
    client.force_login(dpo)
    url = reverse("admin:subjects_contact_lifecycle", args=[contact.pk, "anonymize"])
    page = client.get(url)
    assert "Irreversible" in page.text
    contact.refresh_from_db()
    assert contact.anonymized_at is None
    client.post(url)
    contact.refresh_from_db()
    assert contact.anonymized_at is not None


def test_marketing_cannot_anonymize(marketer, client, contact):
    client.force_login(marketer)
    url = reverse("admin:subjects_contact_lifecycle", args=[contact.pk, "anonymize"])
    assert client.post(url).status_code == 403
    contact.refresh_from_db()
    assert contact.anonymized_at is None
    page = client.get(reverse("admin:subjects_contact_changelist"))
    assert "action_anonymize" not in page.text


def test_qualify_and_convert_from_lead_page(admin_user, client, lead, policy):
    factories.consent(subject=lead, policy_obj=policy)
    client.force_login(admin_user)
    client.post(reverse("admin:subjects_lead_lifecycle", args=[lead.pk, "convert"]))
    lead.refresh_from_db()
    assert lead.status == "qualified"
    assert lead.converted_contact.data_consents.count() == 1


def test_bulk_cancel_asks_for_the_reason_first(admin_user, client, contact, policy):
    consents = [factories.consent(subject=contact, policy_obj=policy) for _ in range(2)]
    client.force_login(admin_user)
    url = reverse("admin:consent_dataconsent_changelist")
    selection = {"action": "cancel_selected", "_selected_action": [c.pk for c in consents]}

    asked = client.post(url, selection)
    assert 'name="reason"' in asked.text
    assert set(DataConsent.objects.values_list("status_reason", flat=True)) == {"active"}

    client.post(url, {**selection, "reason": "list cleaned up"})
    assert set(DataConsent.objects.values_list("status_reason", flat=True)) == {"cancelled"}
    reasons = {c.history.latest("history_date").history_change_reason for c in consents}
    assert reasons == {"list cleaned up"}


def test_bulk_deactivate_via_changelist_needs_confirmation(admin_user, client, contact):
    client.force_login(admin_user)
    url = reverse("admin:subjects_contact_changelist")
    payload = {"action": "action_deactivate", "_selected_action": [contact.pk]}
    page = client.post(url, payload)
    assert "Yes, deactivate" in page.text
    contact.refresh_from_db()
    assert contact.state == "active"
    client.post(url, {**payload, "confirmed": "yes"})
    contact.refresh_from_db()
    assert contact.state == "inactive"


class TestConfidentialityInAdmin:
    @pytest.fixture
    def secret(self, contact, policy, dpo):
        return factories.consent(
            subject=contact,
            policy_obj=policy,
            confidential=True,
            owner_user=dpo,
            note="Top secret note",
        )

    def test_hidden_from_changelist_change_page_history_and_inline(
        self, secret, contact, service_desk, client
    ):
        client.force_login(service_desk)
        listing = client.get(reverse("admin:consent_dataconsent_changelist"))
        assert f"/consent/dataconsent/{secret.pk}/change/" not in listing.text
        change = client.get(reverse("admin:consent_dataconsent_change", args=[secret.pk]))
        assert change.status_code == 302  # "does not exist" redirect to the index
        history = client.get(reverse("admin:consent_dataconsent_history", args=[secret.pk]))
        assert history.status_code == 404
        subject_page = client.get(reverse("admin:subjects_contact_change", args=[contact.pk]))
        assert f"/consent/dataconsent/{secret.pk}/change/" not in subject_page.text

    def test_visible_to_owner(self, secret, dpo, client):
        client.force_login(dpo)
        change = client.get(reverse("admin:consent_dataconsent_change", args=[secret.pk]))
        assert "Top secret note" in change.text

    def test_hidden_from_timeline_and_access_report(
        self, secret, contact, service_desk, dpo, client
    ):
        client.force_login(service_desk)
        timeline = client.get(reverse("admin:subjects_contact_timeline", args=[contact.pk]))
        report = client.get(reverse("admin:subjects_contact_access_report", args=[contact.pk]))
        assert f"data consent #{secret.pk}" not in timeline.text
        assert f"data consent #{secret.pk}" not in report.text
        client.force_login(dpo)
        timeline = client.get(reverse("admin:subjects_contact_timeline", args=[contact.pk]))
        assert f"data consent #{secret.pk}" in timeline.text


def test_timeline_shows_changes_with_source_reason_and_actor(admin_user, client, contact, policy):
    consent = factories.consent(subject=contact, policy_obj=policy, user=admin_user)
    data_consent_cancel(consent=consent, user=admin_user, note="customer withdrew")
    client.force_login(admin_user)
    text = client.get(reverse("admin:subjects_contact_timeline", args=[contact.pk])).text
    assert "customer withdrew" in text
    assert "active → inactive" in text
    assert "root" in text  # the acting user
    report = client.get(reverse("admin:subjects_contact_access_report", args=[contact.pk]))
    assert contact.email in report.text
    assert policy.name in report.text
