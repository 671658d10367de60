"""Data subject requests in the admin (consent/admin/requests.py): the view filter, the buttons
that answer a request, the report as sent, and who may do what."""

from datetime import timedelta

import pytest
from django.contrib import admin
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from consent.models import DataSubjectRequest
from consent.services.requests import data_subject_request_create
from tests import factories

pytestmark = pytest.mark.django_db
CHANGELIST = "admin:consent_datasubjectrequest_changelist"


def create(**kwargs):
    return data_subject_request_create(**{"kind": "access", **kwargs})


def action_url(request, name):
    return reverse("admin:consent_datasubjectrequest_action", args=[request.pk, name])


def changelist_rows(user, **params):
    model_admin = admin.site._registry[DataSubjectRequest]
    http = RequestFactory().get("/", params)
    http.user = user
    return set(model_admin.get_changelist_instance(http).get_queryset(http))


def test_the_view_filter_lists_each_dpo_view(admin_user):
    now = timezone.now()
    overdue = create(received_at=now - timedelta(days=40))
    soon = create(received_at=now - timedelta(days=26))
    later = create(received_at=now - timedelta(days=2))
    assert changelist_rows(admin_user, view="overdue") == {overdue}
    assert changelist_rows(admin_user, view="due_7_days") == {soon}
    assert changelist_rows(admin_user, view="open") == {overdue, soon, later}


def test_the_changelist_shows_the_view_labels_and_overdue_requests(admin_client):
    create(received_at=timezone.now() - timedelta(days=40), requester="Jan by phone")
    html = admin_client.get(reverse(CHANGELIST)).content.decode()
    for label in ("Open requests", "Requests due within 7 days", "Overdue requests"):
        assert label in html
    assert "(overdue)" in html and "Jan by phone" in html


def test_adding_a_request_sets_the_due_date_and_audits_it(admin_client, admin_user, contact):
    received = timezone.now() - timedelta(days=3)
    response = admin_client.post(
        reverse("admin:consent_datasubjectrequest_add"),
        {
            "kind": "access",
            "contact": contact.pk,
            "requester": "Ada, by letter",
            "received_at_0": received.strftime("%Y-%m-%d"),
            "received_at_1": received.strftime("%H:%M:%S"),
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    request = DataSubjectRequest.objects.get()
    assert request.due_at.date() > request.received_at.date() + timedelta(days=27)
    assert request.history.get().history_user == admin_user


def test_completing_an_access_request_attaches_the_report(admin_client, contact):
    factories.consent(subject=contact)
    request = create(contact=contact)
    response = admin_client.post(action_url(request, "complete"), {"outcome": "sent"})
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.status == "done"
    assert request.access_report["subject"]["id"] == contact.pk
    page = admin_client.get(reverse("admin:consent_datasubjectrequest_change", args=[request.pk]))
    report_url = reverse("admin:consent_datasubjectrequest_report", args=[request.pk])
    assert report_url in page.content.decode()
    html = admin_client.get(report_url).content.decode()
    assert str(contact) in html and "Why we hold your data" in html
    pdf = admin_client.get(
        reverse("admin:consent_datasubjectrequest_report_pdf", args=[request.pk])
    )
    assert pdf.content.startswith(b"%PDF")


def test_completing_an_erasure_request_anonymizes_the_subject(admin_client, contact):
    request = create(kind="erasure", contact=contact)
    assert "Irreversible" in admin_client.get(action_url(request, "complete")).content.decode()
    admin_client.post(action_url(request, "complete"), {"outcome": ""})
    contact.refresh_from_db()
    assert contact.is_anonymized
    request.refresh_from_db()
    assert request.erasure_record is not None


def test_extend_and_refuse_need_a_reason(admin_client):
    request = create()
    new_due = request.due_at + timedelta(days=20)
    response = admin_client.post(
        action_url(request, "extend"),
        {"due_at_0": f"{new_due:%Y-%m-%d}", "due_at_1": f"{new_due:%H:%M:%S}", "reason": ""},
    )
    assert response.status_code == 200  # the form again, with the error
    response = admin_client.post(
        action_url(request, "extend"),
        {"due_at_0": f"{new_due:%Y-%m-%d}", "due_at_1": f"{new_due:%H:%M:%S}", "reason": "busy"},
    )
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.extension_reason == "busy"
    admin_client.post(action_url(request, "refuse"), {"reason": "not the person"})
    request.refresh_from_db()
    assert (request.status, request.outcome) == ("refused", "not the person")
    assert admin_client.get(action_url(request, "complete")).status_code == 403


def test_service_desk_takes_requests_in_but_does_not_answer_them(client, service_desk, contact):
    client.force_login(service_desk)
    request = create(contact=contact)
    assert client.get(reverse(CHANGELIST)).status_code == 200
    assert client.get(reverse("admin:consent_datasubjectrequest_add")).status_code == 200
    assert client.post(action_url(request, "complete"), {"outcome": ""}).status_code == 403
    assert client.post(action_url(request, "refuse"), {"reason": "x"}).status_code == 403
    request.refresh_from_db()
    assert request.status == "open"
    assert client.get(action_url(request, "unknown")).status_code == 404
