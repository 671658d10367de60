"""`/api/v1/data-subject-requests/` (consent/api/requests.py): CRUD, `view=` filters, the answering
actions, the report as sent, names and labels beside ids, and permissions."""

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from consent.models import DataSubjectRequest
from consent.services.requests import data_subject_request_create
from tests import factories

pytestmark = pytest.mark.django_db
URL = "/api/v1/data-subject-requests/"


def url(request, action=""):
    return f"{URL}{request.pk}/" + (f"{action}/" if action else "")


def create(**kwargs):
    return data_subject_request_create(**{"kind": "access", **kwargs})


def ids(response) -> set[int]:
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


def test_create_sets_the_due_date_and_reads_in_words(as_dpo, contact, dpo):
    response = as_dpo.post(
        URL,
        {"kind": "erasure", "contact": contact.pk, "received_at": "2026-01-31T10:00:00Z"},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["due_at"] == "2026-02-28T10:00:00Z"
    assert (body["kind_label"], body["status_label"]) == ("Erasure (Art. 17)", "Open")
    assert body["contact_name"] == str(contact)
    row = DataSubjectRequest.objects.get().history.get()
    assert (row.history_user, row.history_source) == (dpo, "api")


def test_a_request_cannot_be_marked_done_by_an_update(as_dpo):
    request = create()
    response = as_dpo.patch(url(request), {"status": "done"}, format="json")
    assert response.status_code == 400
    response = as_dpo.patch(url(request), {"status": "in_progress"}, format="json")
    assert response.json()["status"] == "in_progress"


def test_view_filters(as_dpo):
    now = timezone.now()
    overdue = create(received_at=now - timedelta(days=40))
    soon = create(received_at=now - timedelta(days=26))
    later = create(received_at=now - timedelta(days=1))
    assert ids(as_dpo.get(URL, {"view": "overdue"})) == {overdue.pk}
    assert ids(as_dpo.get(URL, {"view": "due_7_days"})) == {soon.pk}
    assert ids(as_dpo.get(URL, {"view": "open"})) == {overdue.pk, soon.pk, later.pk}
    assert as_dpo.get(URL, {"view": "everything"}).status_code == 400


def test_extend_then_complete_an_access_request_keeps_the_report(as_dpo, contact):
    factories.consent(subject=contact)
    request = create(contact=contact, received_at=datetime(2026, 1, 10, tzinfo=UTC))
    response = as_dpo.post(
        url(request, "extend"), {"due_at": "2026-03-01T00:00:00Z", "reason": ""}, format="json"
    )
    assert response.status_code == 400 and "reason" in response.json()
    response = as_dpo.post(
        url(request, "extend"),
        {"due_at": "2026-03-01T00:00:00Z", "reason": "archives to search"},
        format="json",
    )
    assert response.json()["extension_reason"] == "archives to search"
    assert as_dpo.get(url(request, "access-report")).status_code == 404

    response = as_dpo.post(url(request, "complete"), {"outcome": "mailed"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["has_access_report"] is True
    report = as_dpo.get(url(request, "access-report")).json()
    assert report["subject"]["email"] == contact.email
    assert report["policies"][0]["rights"]
    # Answered: no second answer, no deletion.
    assert as_dpo.post(url(request, "refuse"), {"reason": "x"}, format="json").status_code == 409
    assert as_dpo.delete(url(request)).status_code == 409


def test_the_report_as_sent_hides_confidential_consents_from_its_reader(
    as_dpo, client_for, make_user, contact
):
    factories.consent(subject=contact, policy_obj=factories.policy(name="Open policy"))
    factories.consent(
        subject=contact,
        policy_obj=factories.policy(name="Secret policy"),
        confidential=True,
        owner_team=Group.objects.create(name="Legal"),
    )
    request = create(contact=contact)
    as_dpo.post(url(request, "complete"), {}, format="json")
    assert "Secret policy" in str(as_dpo.get(url(request, "access-report")).json())
    desk = client_for(make_user("desk2", role="Service desk"))
    report = desk.get(url(request, "access-report")).json()
    assert "Secret policy" not in str(report) and "Open policy" in str(report)


def test_completing_an_erasure_request_anonymizes(as_dpo, contact):
    request = create(kind="erasure", contact=contact)
    body = as_dpo.post(url(request, "complete"), {}, format="json").json()
    assert body["status"] == "done" and body["erasure_record"]
    contact.refresh_from_db()
    assert contact.is_anonymized


def test_an_open_request_entered_by_mistake_can_be_deleted(as_dpo):
    request = create()
    assert as_dpo.delete(url(request)).status_code == 204
    assert not DataSubjectRequest.objects.exists()


def test_service_desk_may_create_and_read_but_not_answer(client_for, service_desk, contact):
    desk = client_for(service_desk)
    response = desk.post(URL, {"kind": "access", "requester": "walk-in"}, format="json")
    assert response.status_code == 201
    request = DataSubjectRequest.objects.get()
    assert desk.get(url(request)).status_code == 200
    assert desk.patch(url(request), {"contact": contact.pk}, format="json").status_code == 403
    assert desk.post(url(request, "refuse"), {"reason": "x"}, format="json").status_code == 403
    assert desk.delete(url(request)).status_code == 403


def test_marketing_sees_no_requests(client_for, marketer):
    create()
    assert client_for(marketer).get(URL).status_code == 403


def test_erasure_needs_the_anonymize_permission(client_for, make_user, contact):
    user = make_user(
        "clerk",
        perms=["consent.view_datasubjectrequest", "consent.change_datasubjectrequest"],
    )
    request = create(kind="erasure", contact=contact)
    assert client_for(user).post(url(request, "complete"), {}, format="json").status_code == 403
    contact.refresh_from_db()
    assert not contact.is_anonymized
