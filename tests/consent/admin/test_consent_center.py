import re

import pytest
from django.urls import reverse

from consent.addresses import address_hash
from consent.models import ContactPointConsent, Suppression
from consent.services.contact_points import suppression_add
from tests import factories


@pytest.fixture
def events(commercial):
    return factories.topic(purpose_obj=commercial, name="Events")


@pytest.fixture
def opted_in_contact(commercial, events):
    contact = factories.contact()
    factories.consent(subject=contact, policy_obj=factories.policy(consent_level=5))
    factories.cp_consent(value=contact.email, purpose_obj=commercial, status="opted_in")
    factories.cp_consent(
        value=contact.email, purpose_obj=commercial, status="opted_in", topic=events
    )
    return contact


def center_row(html, topic_name):
    """The consent-center cell of the e-mail address (the matrix's first column) for a topic."""
    matrix = html.split('class="consent-matrix"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r'<tr class="(?:topic|purpose)-row">.*?</tr>', matrix, re.S)
    row = next(row for row in rows if f'<span class="topic-name">{topic_name}</span>' in row)
    return re.findall(r'<td class="consent-cell.*?</td>', row, re.S)[0]


def test_acceptance_verbal_opt_out_shows_in_consent_center_and_timeline(
    opted_in_contact, commercial, events, service_desk, client
):
    client.force_login(service_desk)
    page_url = reverse("admin:subjects_contact_change", args=[opted_in_contact.pk])
    assert "✔ Will send" in center_row(client.get(page_url).text, "Events")

    response = client.post(
        reverse("admin:subjects_contact_verbal_consent", args=[opted_in_contact.pk]),
        {
            "address": f"email|{opted_in_contact.email.lower()}",
            "purpose": commercial.pk,
            "topic": events.pk,
            "status": "opted_out",
            "requested_by": "customer by phone",
            "note": "Called: no more event invitations",
        },
    )
    assert response.status_code == 302

    row = center_row(client.get(page_url).text, "Events")
    assert "✘ Won't send" in row and 'data-reason="topic_opted_out"' in row
    assert "opted out of Events on " in row and "(verbal)" in row  # the decision in words
    record = ContactPointConsent.objects.get(topic=events)
    assert (record.status, record.source, record.captured_by, record.requested_by) == (
        "opted_out",
        "verbal",
        service_desk,
        "customer by phone",
    )
    timeline = client.get(
        reverse("admin:subjects_contact_timeline", args=[opted_in_contact.pk])
    ).text
    entry = re.search(
        r"<tr>(?:(?!</tr>).)*Called: no more event invitations.*?</tr>", timeline, re.S
    ).group(0)
    assert "verbal" in entry and "desk" in entry and "opted_in → opted_out" in entry


def test_verbal_consent_requires_requested_by_and_note(
    opted_in_contact, commercial, service_desk, client
):
    client.force_login(service_desk)
    response = client.post(
        reverse("admin:subjects_contact_verbal_consent", args=[opted_in_contact.pk]),
        {
            "address": f"email|{opted_in_contact.email.lower()}",
            "purpose": commercial.pk,
            "status": "opted_out",
        },
    )
    assert response.status_code == 200
    assert response.text.count("This field is required.") == 2
    assert ContactPointConsent.history.filter(source="verbal").count() == 0


def test_verbal_consent_cannot_target_another_address(
    opted_in_contact, commercial, service_desk, client
):
    client.force_login(service_desk)
    response = client.post(
        reverse("admin:subjects_contact_verbal_consent", args=[opted_in_contact.pk]),
        {
            "address": "email|someone@else.example",
            "purpose": commercial.pk,
            "status": "opted_in",
            "requested_by": "x",
            "note": "y",
        },
    )
    assert response.status_code == 200
    assert not ContactPointConsent.objects.filter(value="someone@else.example").exists()


def test_verbal_consent_of_a_suppressed_address_is_refused_with_a_form_error(
    commercial, service_desk, client
):
    contact = factories.contact()
    suppression_add(channel="email", value=contact.email)
    client.force_login(service_desk)
    response = client.post(
        reverse("admin:subjects_contact_verbal_consent", args=[contact.pk]),
        {
            "address": f"email|{contact.email.lower()}",
            "purpose": commercial.pk,
            "status": "opted_in",
            "requested_by": "customer",
            "note": "wants mail",
        },
    )
    assert response.status_code == 200
    assert "errorlist" in response.text
    assert not ContactPointConsent.objects.exists()


def test_marketing_may_record_verbal_consent_but_a_viewer_may_not(
    opted_in_contact, marketer, make_user, client
):
    url = reverse("admin:subjects_contact_verbal_consent", args=[opted_in_contact.pk])
    client.force_login(marketer)
    assert client.get(url).status_code == 200
    client.force_login(make_user("viewer", perms=["subjects.view_contact"]))
    assert client.get(url).status_code == 403


def test_access_report_lists_contact_point_consents(opted_in_contact, admin_user, client):
    client.force_login(admin_user)
    report = client.get(
        reverse("admin:subjects_contact_access_report", args=[opted_in_contact.pk])
    ).text
    section = report.split('id="contact-point-consents"')[1].split("</table>")[0]
    assert section.count("<tr>") == 3  # header + purpose + topic
    assert "Events" in section


def test_contact_point_admin_saves_through_the_service(admin_user, client, commercial):
    client.force_login(admin_user)
    response = client.post(
        reverse("admin:consent_contactpointconsent_add"),
        {
            "channel": "email",
            "value": "New@Example.org",
            "purpose": commercial.pk,
            "status": "opted_in",
            "reason": "form on site",
        },
    )
    assert response.status_code == 302
    record = ContactPointConsent.objects.get()
    assert (record.value, record.source, record.captured_by) == (
        "new@example.org",
        "internal",
        admin_user,
    )
    assert record.history.get().history_source == "internal"


def test_contact_point_admin_invalid_address_is_a_form_error(admin_user, client, commercial):
    client.force_login(admin_user)
    response = client.post(
        reverse("admin:consent_contactpointconsent_add"),
        {
            "channel": "sms",
            "value": "not a phone",
            "purpose": commercial.pk,
            "status": "opted_in",
        },
    )
    assert response.status_code == 200
    assert not ContactPointConsent.objects.exists()


def test_unsuppress_needs_the_permission_and_a_reason(dpo, service_desk, admin_user, client):
    suppression_add(channel="email", value="gone@example.org")
    url = reverse("admin:consent_suppression_unsuppress")
    client.force_login(service_desk)
    assert client.get(url).status_code == 403
    client.force_login(admin_user)
    client.post(url, {"channel": "email", "value": "gone@example.org", "reason": ""})
    assert Suppression.objects.filter(value_hash=address_hash("email", "gone@example.org"))
    client.post(
        url,
        {
            "channel": "email",
            "value": "gone@example.org",
            "reason": "customer asked again in writing",
        },
    )
    assert not Suppression.objects.exists()


def test_changelists_of_contact_point_models_render(admin_user, client, opted_in_contact):
    client.force_login(admin_user)
    for name in ("complianceprofile", "purpose", "topic", "contactpointconsent", "suppression"):
        response = client.get(reverse(f"admin:consent_{name}_changelist"))
        assert response.status_code == 200, name
    listing = client.get(
        reverse("admin:consent_contactpointconsent_changelist"), {"q": opted_in_contact.email}
    )
    assert opted_in_contact.email.lower() in listing.text


def test_consent_center_is_a_matrix_of_purposes_and_topics_by_address(
    opted_in_contact, commercial, events, admin_client, django_assert_max_num_queries
):
    from consent.reports.consent_center import subject_consent_center

    with django_assert_max_num_queries(12):
        center = subject_consent_center(opted_in_contact)

    assert [a.channel for a in center.addresses] == ["email", "sms", "voice"]
    labels = [(row.purpose.name, row.topic.name if row.topic else None) for row in center.rows]
    assert ("Commercial", None) in labels and ("Commercial", "Events") in labels
    events_row = next(row for row in center.rows if row.topic == events)
    email, sms, _ = events_row.cells
    assert (email.status_label, email.will_send) == ("Opted in", True)
    assert email.why.startswith("opted in to Commercial on ")  # in words
    assert (sms.status, sms.will_send) == ("not_set", False)
    assert "no opt-in to Commercial" in sms.why  # words, never the bare code
    page = admin_client.get(reverse("admin:subjects_contact_change", args=[opted_in_contact.pk]))
    assert "insufficient_consent_level" not in page.text.split('id="consent-center"')[1].replace(
        'data-reason="insufficient_consent_level"', ""
    )
