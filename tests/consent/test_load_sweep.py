"""consent.loads.runner: no uploaded file outlives its use (the periodic sweep), and an
unreachable broker never turns an upload into a 500 (the load stays pending; the sweep
dispatches it again)."""

from datetime import timedelta

import pytest
from celery import current_app
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from consent.loads.rows import HEADER
from consent.loads.runner import (
    UNREACHABLE_MESSAGE,
    consent_load_create,
    consent_load_run,
    consent_loads_sweep,
)
from consent.models import ComplianceProfile, ConsentLoad, ConsentLoadChunk
from consent.tasks import sweep_consent_loads

pytestmark = pytest.mark.django_db

GOOD = HEADER + "\nemail,ada@example.org,Commercial,,opted_in,,,,\n"


def stored(**options) -> ConsentLoad:
    return consent_load_create(file=GOOD.encode(), file_name="c.csv", dispatch=False, **options)


def later(**delta):
    return timezone.now() + timedelta(**delta)


def test_the_sweep_is_scheduled():
    (entry,) = [
        entry
        for entry in settings.CELERY_BEAT_SCHEDULE.values()
        if entry["task"] == "consent.tasks.sweep_consent_loads"
    ]
    assert entry["schedule"].minute == set(range(0, 60, 15))


def test_a_finished_load_keeps_no_file():
    load = consent_load_run(load=stored())
    assert load.status in ("done", "failed") and not load.chunks.exists()


def test_a_stale_preview_loses_its_file():
    preview = consent_load_run(load=stored(dry_run=True))
    assert preview.status == "previewed" and preview.chunks.exists()
    assert consent_loads_sweep()["preview_chunks_deleted"] == 0  # still within its TTL
    assert consent_loads_sweep(now=later(days=2))["preview_chunks_deleted"] == 1
    assert not preview.chunks.exists()


def test_a_load_stuck_in_running_fails_and_loses_its_file():
    load = stored()
    ConsentLoad.objects.filter(pk=load.pk).update(status="running", started_at=timezone.now())
    assert consent_loads_sweep()["stuck_failed"] == 0  # may still be running
    assert consent_loads_sweep(now=later(hours=3))["stuck_failed"] == 1
    load.refresh_from_db()
    assert load.status == "failed" and "worker was lost" in load.message
    assert not load.chunks.exists()


def test_a_load_that_never_ran_is_dispatched_again_then_abandoned(monkeypatch):
    sent = []
    monkeypatch.setattr("consent.tasks.run_consent_load.delay", sent.append)
    load = stored()
    assert consent_loads_sweep(now=later(minutes=10))["redispatched"] == 1
    assert sent == [load.pk]
    assert consent_loads_sweep(now=later(days=2))["abandoned_failed"] == 1
    load.refresh_from_db()
    assert load.status == "failed" and not load.chunks.exists()


def test_orphan_chunks_of_a_finished_load_are_deleted():
    load = consent_load_run(load=stored())
    ConsentLoadChunk.objects.create(load=load, number=0, data=b"email,ada@example.org")
    assert consent_loads_sweep()["orphan_chunks_deleted"] == 1


def test_the_task_runs_the_sweep():
    assert set(sweep_consent_loads()) >= {"stuck_failed", "redispatched", "preview_chunks_deleted"}


@pytest.fixture
def broker_down():
    """An unreachable broker, tasks really sent (not eager)."""
    conf = current_app.conf
    saved = conf.task_always_eager, conf.broker_url
    conf.task_always_eager, conf.broker_url = False, "redis://127.0.0.1:1/0"
    conf.broker_connection_retry = False
    saved_retry = conf.task_publish_retry
    conf.task_publish_retry = False
    _fresh_connections()  # not one an earlier test opened to a live broker
    yield
    conf.task_always_eager, conf.broker_url = saved
    conf.task_publish_retry = saved_retry
    _fresh_connections()


def _fresh_connections():
    current_app._pool = None
    current_app.amqp._producer_pool = None


def upload_file():
    return SimpleUploadedFile("c.csv", GOOD.encode(), content_type="text/csv")


def test_an_api_upload_with_the_broker_down_is_queued_not_a_500(
    broker_down, client_for, dpo, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(dpo).post(
            "/api/v1/consent-loads/", {"file": upload_file()}, format="multipart"
        )
    assert response.status_code == 202, response.content
    load = ConsentLoad.objects.get()
    assert load.status == "pending" and load.message == UNREACHABLE_MESSAGE
    assert load.chunks.exists()  # kept for the retry: the sweep dispatches it again


def test_an_admin_upload_with_the_broker_down_is_queued_not_a_500(
    broker_down, client, dpo, django_capture_on_commit_callbacks
):
    client.force_login(dpo)
    data = {
        "file": upload_file(),
        "profile": ComplianceProfile.objects.default().pk,
        "mode": "skip",
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/admin/consent/consentload/add/", data)
    load = ConsentLoad.objects.get()
    assert response.status_code == 302
    assert load.status == "pending" and load.message == UNREACHABLE_MESSAGE
    page = client.get(response["Location"])
    assert page.status_code == 200
