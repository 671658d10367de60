"""Acting from a subject's page (DESIGN §5): a convert lands on the new contact; a preference
link is sent from the page, e-mailed and recorded."""

import html

import pytest
from django.contrib.admin.models import LogEntry
from django.core import mail
from django.urls import reverse

from consent.models import ComplianceProfile
from consent.services.data_consents import data_consent_cancel
from consent.services.erasure import subject_anonymize
from consent.services.subjects import subject_update
from subjects.models import Contact
from subjects.services import SYSTEM
from tests import factories


def test_convert_lands_on_the_new_contact(admin_client, db):
    lead = factories.lead()

    response = admin_client.post(
        reverse("admin:subjects_lead_lifecycle", args=[lead.pk, "convert"])
    )

    contact = Contact.objects.get(email=lead.email)
    assert response["Location"] == reverse("admin:subjects_contact_change", args=[contact.pk])


def default_profile() -> int:
    return ComplianceProfile.objects.default().pk


def send_url(subject) -> str:
    return reverse("admin:send_preference_link", args=[subject._meta.model_name, subject.pk])


def test_the_subject_page_offers_to_send_a_preference_link(admin_client, contact):
    page = admin_client.get(reverse("admin:subjects_contact_change", args=[contact.pk])).text
    assert send_url(contact) in page


def test_sending_the_link_mails_the_subject_and_leaves_an_admin_log_entry(
    admin_client, admin_user, contact, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            send_url(contact), {"profile": default_profile(), "language": "nl"}
        )

    assert response.status_code == 302
    assert [message.to for message in mail.outbox] == [[contact.email]]
    assert "/preferences/" in mail.outbox[0].body
    entry = LogEntry.objects.get(object_id=str(contact.pk))
    assert entry.user == admin_user and "preference-center link" in entry.get_change_message()
    assert contact.email not in entry.get_change_message()  # no PII in the log


@pytest.mark.parametrize("object_id", ["abc", "999999", "１２"])
def test_an_unknown_or_malformed_subject_is_a_404(admin_client, db, object_id):
    url = reverse("admin:send_preference_link", args=["contact", 1]).replace(
        "/1/", f"/{object_id}/"
    )
    assert admin_client.get(url).status_code == 404


def test_a_user_who_cannot_change_consent_cannot_send(client, make_user, contact):
    client.force_login(make_user("viewer", perms=["subjects.view_contact"]))
    assert (
        client.post(send_url(contact), {"profile": default_profile(), "language": "en"}).status_code
        == 403
    )
    assert mail.outbox == []


def test_restrict_says_why(admin_client, policy):
    restricted = factories.contact()
    subject_update(subject=restricted, data={"restricted": True}, user=SYSTEM)
    lapsed = factories.contact()
    data_consent_cancel(consent=factories.consent(subject=lapsed, policy_obj=policy))

    def protection(contact):
        page = admin_client.get(reverse("admin:subjects_contact_change", args=[contact.pk]))
        return html.unescape(page.text)

    assert "Restrict: processing restricted (GDPR Art. 18)" in protection(restricted)
    assert "Restrict: no active data consent left" in protection(lapsed)


def test_erasure_records_read_in_words(admin_client, policy):
    contact = factories.contact()
    factories.consent(subject=contact, policy_obj=policy)
    subject_anonymize(subject=contact)

    page = admin_client.get(reverse("admin:consent_erasurerecord_changelist")).text

    assert "1 data consent(s) deactivated as anonymized" in page
    assert "{" not in page.split('id="result_list"', 1)[1].split("</table>", 1)[0]  # no JSON
