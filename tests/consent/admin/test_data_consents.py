"""The data consent page (DESIGN §5 "Acting"): cancel and reactivate buttons that need a
reason, and the cancel's side effect said before it happens and shown after."""

import pytest
from django.urls import reverse

from consent.models import DataConsent
from subjects.models import Contact
from tests import factories


def state_url(consent, action):
    return reverse("admin:consent_dataconsent_state", args=[consent.pk, action])


@pytest.fixture
def consent(db, policy):
    return factories.consent(subject=factories.contact(last_name="Wagner"), policy_obj=policy)


def test_the_page_offers_cancel_for_an_active_consent_only(admin_client, consent):
    page = admin_client.get(reverse("admin:consent_dataconsent_change", args=[consent.pk])).text
    assert state_url(consent, "cancel") in page
    assert state_url(consent, "reactivate") not in page


def test_cancel_needs_a_reason_and_writes_nothing_without_one(admin_client, consent):
    response = admin_client.post(state_url(consent, "cancel"), {"reason": ""})

    assert response.status_code == 200
    assert "This field is required" in response.text
    consent.refresh_from_db()
    assert consent.is_active
    assert consent.history.count() == 1


def test_cancel_announces_the_contact_methods_switching_off_then_reports_it(admin_client, consent):
    before = admin_client.get(state_url(consent, "cancel")).text
    response = admin_client.post(
        state_url(consent, "cancel"), {"reason": "withdrew by phone"}, follow=True
    )

    assert "every contact method" in before and "Wagner" in before
    assert "Contact methods switched off for" in response.text
    contact = Contact.objects.get(pk=consent.contact_id)
    assert (contact.data_protection_consent, contact.allow_email) == ("restrict", False)
    row = consent.history.latest("history_date")
    assert row.history_change_reason == "withdrew by phone"


def test_reactivate_after_cancel_with_its_own_reason(admin_client, consent):
    admin_client.post(state_url(consent, "cancel"), {"reason": "withdrew"})
    response = admin_client.post(state_url(consent, "reactivate"), {"reason": "gave it again"})

    assert response.status_code == 302
    consent.refresh_from_db()
    assert consent.status_reason == DataConsent.Reason.ACTIVE
    assert consent.history.latest("history_date").history_change_reason == "gave it again"


def test_a_consent_with_another_active_one_beside_it_announces_nothing(admin_client, policy):
    contact = factories.contact()
    first = factories.consent(subject=contact, policy_obj=policy)
    factories.consent(subject=contact, policy_obj=policy)

    page = admin_client.get(state_url(first, "cancel")).text

    assert "every contact method" not in page


def test_an_unknown_action_or_id_is_a_404(admin_client, consent):
    assert admin_client.get(state_url(consent, "delete")).status_code == 404
    bad = reverse("admin:consent_dataconsent_state", args=["abc", "cancel"])
    assert admin_client.get(bad).status_code == 404
