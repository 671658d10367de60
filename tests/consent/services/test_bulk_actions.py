"""consent.services.bulk_actions: a large admin bulk action runs as a resumable job with
progress; a small one stays in the request."""

import pytest
from django.urls import reverse

from consent.models import BulkAction
from consent.services.bulk_actions import bulk_action_create, bulk_action_run
from subjects.models import Contact
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def small_limit(monkeypatch):
    monkeypatch.setattr("consent.admin.bulk_actions.BULK_SYNC_LIMIT", 3)


@pytest.fixture
def contacts():
    return [factories.contact() for _ in range(5)]


def states(contacts) -> list[str]:
    return [Contact.objects.get(pk=contact.pk).state for contact in contacts]


def deactivate(client, contacts):
    return client.post(
        reverse("admin:subjects_contact_changelist"),
        {
            "action": "action_deactivate",
            "_selected_action": [c.pk for c in contacts],
            "confirmed": "yes",
        },
    )


def test_a_large_selection_becomes_a_job_and_the_request_writes_nothing(
    admin_user, client, contacts, small_limit, django_capture_on_commit_callbacks
):
    client.force_login(admin_user)
    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = deactivate(client, contacts)
    assert response.status_code == 302
    job = BulkAction.objects.get()
    assert (job.action, job.total, job.position, job.status) == (
        "contact.deactivate",
        5,
        0,
        "queued",
    )
    assert states(contacts) == ["active"] * 5  # nothing applied in the request
    assert len(queued) == 1

    queued[0]()  # the job (eager in the tests)

    job.refresh_from_db()
    assert (job.status, job.position, job.done, job.errors) == ("done", 5, 5, [])
    assert states(contacts) == ["inactive"] * 5
    history = Contact.history.filter(id=contacts[0].pk).latest()
    assert history.history_user == admin_user
    page = client.get(reverse("admin:consent_bulkaction_change", args=[job.pk]))
    assert "5 / 5 (100%)" in page.text


def test_a_small_selection_runs_in_the_request(admin_user, client, contacts, small_limit):
    client.force_login(admin_user)
    deactivate(client, contacts[:3])
    assert states(contacts[:3]) == ["inactive"] * 3
    assert not BulkAction.objects.exists()


def test_a_job_resumes_after_the_last_row_it_finished(admin_user, contacts):
    job = bulk_action_create(
        action="contact.deactivate", object_ids=[c.pk for c in contacts], user=admin_user
    )
    BulkAction.objects.filter(pk=job.pk).update(position=2, done=2, status="running")  # died

    bulk_action_run(job=job)

    job.refresh_from_db()
    assert (job.status, job.position, job.done) == ("done", 5, 5)
    # The two rows "done" before the crash are not applied again (here: never were).
    assert states(contacts) == ["active", "active", "inactive", "inactive", "inactive"]


def test_a_refused_row_is_recorded_and_the_job_carries_on(admin_user, contacts):
    from subjects.services import contact_deactivate

    contact_deactivate(contact=contacts[1], user=admin_user)
    job = bulk_action_create(
        action="contact.deactivate", object_ids=[c.pk for c in contacts] + [987654], user=admin_user
    )
    job = bulk_action_run(job=job)
    assert (job.position, job.done) == (6, 4)
    assert [error["id"] for error in job.errors] == [contacts[1].pk, 987654]
    assert states(contacts) == ["inactive"] * 5


def test_a_second_run_of_a_finished_job_changes_nothing(admin_user, contacts):
    job = bulk_action_create(
        action="contact.deactivate", object_ids=[c.pk for c in contacts], user=admin_user
    )
    bulk_action_run(job=job)
    job = bulk_action_run(job=job)
    assert (job.position, job.done, job.errors) == (5, 5, [])


def test_data_consent_cancel_at_scale(
    admin_user, client, contact, policy, small_limit, django_capture_on_commit_callbacks
):
    consents = [factories.consent(subject=contact, policy_obj=policy) for _ in range(4)]
    client.force_login(admin_user)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("admin:consent_dataconsent_changelist"),
            {
                "action": "cancel_selected",
                "_selected_action": [c.pk for c in consents],
                "reason": "list cleaned up",
            },
        )
    job = BulkAction.objects.get()
    assert (job.action, job.status, job.done) == ("dataconsent.cancel", "done", 4)
