"""Data subject requests: the services (consent/services/requests.py) and the named views."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError

from common.admin import dpo_views
from consent.models import DataConsent, DataSubjectRequest, ErasureRecord
from consent.models.requests import add_months
from consent.reports.access_report import subject_access_report
from consent.services.erasure import subject_anonymize
from consent.services.requests import (
    data_subject_request_complete,
    data_subject_request_create,
    data_subject_request_delete,
    data_subject_request_extend,
    data_subject_request_refuse,
    data_subject_request_update,
)
from subjects.models import ANONYMIZED_NAME
from tests import factories

pytestmark = pytest.mark.django_db
RECEIVED = datetime(2026, 1, 31, 10, 0, tzinfo=UTC)


def create(**kwargs):
    return data_subject_request_create(**{"kind": "access", **kwargs})


def test_add_months_clips_to_the_end_of_a_shorter_month():
    assert add_months(RECEIVED, 1) == datetime(2026, 2, 28, 10, 0, tzinfo=UTC)
    assert add_months(datetime(2026, 11, 15, tzinfo=UTC), 3) == datetime(2027, 2, 15, tzinfo=UTC)


def test_a_request_is_due_one_month_after_receipt(dpo):
    request = create(received_at=RECEIVED, requester="Ada by e-mail", user=dpo)
    assert request.due_at == datetime(2026, 2, 28, 10, 0, tzinfo=UTC)
    assert request.status == "open"
    row = request.history.get()
    assert (row.history_user, row.history_change_reason) == (dpo, "received")


def test_a_request_names_one_subject_at_most(contact, lead):
    with pytest.raises(ValidationError):
        create(lead=lead, contact=contact)


def test_a_request_cannot_be_received_in_the_future():
    with pytest.raises(ValidationError):
        create(received_at=datetime(2999, 1, 1, tzinfo=UTC))


def test_extending_needs_a_reason_and_stays_within_three_months(dpo):
    request = create(received_at=RECEIVED)
    later = request.due_at + timedelta(days=30)
    with pytest.raises(ValidationError) as error:
        data_subject_request_extend(request=request, due_at=later, reason=" ", user=dpo)
    assert "reason" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        data_subject_request_extend(
            request=request, due_at=RECEIVED + timedelta(days=100), reason="complex", user=dpo
        )
    assert "due_at" in error.value.message_dict

    request = data_subject_request_extend(
        request=request, due_at=later, reason="many systems to search", user=dpo
    )
    assert (request.due_at, request.extension_reason) == (later, "many systems to search")
    row = request.history.latest()
    assert row.history_change_reason == "deadline extended: many systems to search"
    assert row.due_at == later


def test_update_identifies_the_subject_but_cannot_answer(contact, dpo):
    request = create()
    request = data_subject_request_update(
        request=request, data={"contact": contact, "status": "in_progress"}, user=dpo
    )
    assert (request.contact, request.status) == (contact, "in_progress")
    with pytest.raises(ValidationError):
        data_subject_request_update(request=request, data={"status": "done"}, user=dpo)
    with pytest.raises(ValidationError):
        data_subject_request_update(request=request, data={"due_at": RECEIVED}, user=dpo)


def test_completing_an_access_request_keeps_the_report_as_sent(contact, dpo):
    factories.consent(subject=contact)
    request = create(contact=contact)
    report = subject_access_report(subject=contact, user=dpo)
    done = data_subject_request_complete(
        request=request, access_report=report, outcome="sent by e-mail", user=dpo
    )
    done.refresh_from_db()
    assert done.status == "done" and done.completed_at is not None
    assert done.access_report["subject"]["email"] == contact.email
    assert len(done.access_report["data_consents"]) == 1
    assert done.handled_by == dpo
    assert done.history.latest().history_change_reason == "completed"


def test_an_access_request_is_not_completed_without_the_subjects_report(contact, lead, dpo):
    request = create()
    with pytest.raises(ValidationError, match="Identify the subject"):
        data_subject_request_complete(request=request, user=dpo)
    request = create(contact=contact)
    other_report = subject_access_report(subject=factories.contact(), user=dpo)
    with pytest.raises(ValidationError):
        data_subject_request_complete(request=request, access_report=other_report, user=dpo)
    assert DataSubjectRequest.objects.get(pk=request.pk).status == "open"


def test_completing_an_erasure_request_anonymizes_and_links_the_record(contact, dpo):
    consent = factories.consent(subject=contact)
    request = create(kind="erasure", contact=contact, requester=f"Ada {contact.email}")
    done = data_subject_request_complete(request=request, user=dpo)
    contact.refresh_from_db()
    consent.refresh_from_db()
    assert contact.is_anonymized
    assert consent.status_reason == DataConsent.Reason.ANONYMIZED
    assert done.erasure_record == ErasureRecord.objects.get(subject_id=contact.pk)
    # Who asked names the person: it is erased with them, here and in the history rows.
    done.refresh_from_db()
    assert done.requester == ANONYMIZED_NAME
    assert not DataSubjectRequest.history.filter(requester__contains="@").exists()


def test_an_erasure_already_done_from_the_subject_page_is_linked(contact, dpo):
    request = create(kind="erasure", contact=contact)
    record = subject_anonymize(subject=contact, user=dpo)
    done = data_subject_request_complete(request=request, user=dpo)
    assert done.erasure_record == record


def test_anonymizing_a_subject_drops_the_reports_kept_for_it(contact, dpo):
    request = create(contact=contact)
    data_subject_request_complete(
        request=request, access_report=subject_access_report(subject=contact, user=dpo), user=dpo
    )
    subject_anonymize(subject=contact, user=dpo)
    request.refresh_from_db()
    assert request.access_report is None


def test_refusing_needs_a_reason_and_closes_the_request(dpo):
    request = create()
    with pytest.raises(ValidationError):
        data_subject_request_refuse(request=request, reason="", user=dpo)
    request = data_subject_request_refuse(request=request, reason="manifestly unfounded", user=dpo)
    assert (request.status, request.outcome) == ("refused", "manifestly unfounded")
    with pytest.raises(ValidationError, match="already refused"):
        data_subject_request_extend(
            request=request, due_at=request.due_at + timedelta(days=1), reason="x", user=dpo
        )


def test_an_answered_request_is_never_deleted(dpo):
    request = data_subject_request_refuse(request=create(), reason="duplicate", user=dpo)
    with pytest.raises(ValidationError):
        data_subject_request_delete(request=request, user=dpo)
    mistake = create()
    data_subject_request_delete(request=mistake, user=dpo)
    assert not DataSubjectRequest.objects.filter(pk=mistake.pk).exists()
    assert DataSubjectRequest.history.filter(id=mistake.pk, history_type="-").get().history_user


def test_the_named_views_follow_the_due_date(dpo):
    with time_machine.travel(datetime(2026, 1, 1, 12, tzinfo=UTC), tick=False):
        overdue = create(received_at=datetime(2025, 11, 20, tzinfo=UTC))
        due_soon = create(received_at=datetime(2025, 12, 5, tzinfo=UTC))
        later = create(received_at=datetime(2025, 12, 20, tzinfo=UTC))
        answered = data_subject_request_refuse(
            request=create(received_at=datetime(2025, 11, 1, tzinfo=UTC)), reason="no", user=dpo
        )
        views = DataSubjectRequest.objects
        assert set(views.open()) == {overdue, due_soon, later}
        assert set(views.due_7_days()) == {due_soon}
        assert set(views.overdue()) == {overdue}
        assert answered not in views.for_view("overdue")
        assert {code: label for code, (label, _) in dpo_views(DataSubjectRequest).items()} == {
            "open": "Open requests",
            "due_7_days": "Requests due within 7 days",
            "overdue": "Overdue requests",
        }
