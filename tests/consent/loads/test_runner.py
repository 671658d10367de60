"""consent/loads/runner.py: create, run, modes, preview and confirmation, the purge of unconfirmed
files; the periodic sweep (no uploaded file outlives its use) and an unreachable broker (never a
500: the load stays pending and the sweep dispatches it again)."""

from datetime import UTC, datetime, timedelta

import pytest
from celery import current_app
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from common.audit import Evidence
from consent.loads.rows import HEADER
from consent.loads.runner import (
    UNREACHABLE_MESSAGE,
    consent_load_confirm,
    consent_load_create,
    consent_load_files_purge,
    consent_load_run,
    consent_loads_sweep,
)
from consent.models import ComplianceProfile, ConsentLoad, ConsentLoadChunk, ContactPointConsent
from consent.services.contact_points import contact_point_consent_set
from consent.tasks import sweep_consent_loads
from tests import factories
from tests.consent.loads.helpers import MIXED, History, csv_text, errors, load

pytestmark = pytest.mark.django_db


def test_the_task_runs_once_the_upload_is_committed(commercial, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        created = consent_load_create(
            file=csv_text("email,ada@example.org,Commercial,,opted_in,,,,").encode(),
            file_name="a.csv",
        )
        assert ConsentLoad.objects.get(pk=created.pk).status == "pending"

    created.refresh_from_db()
    assert (created.status, created.rows_processed, created.rows_total) == ("done", 1, 1)
    assert not ConsentLoadChunk.objects.filter(load=created).exists()  # no copy of the file


def test_reject_mode_writes_nothing_when_any_row_is_invalid(commercial):
    result = load(MIXED)

    assert result.status == "failed"
    assert "1 invalid row(s): nothing was written" in result.message
    assert errors(result) == [(3, "value", "invalid")]
    assert ContactPointConsent.objects.count() == History.objects.count() == 0
    assert result.counts["written"] == 0


def test_skip_mode_writes_the_valid_rows_and_lists_the_invalid_ones(commercial):
    result = load(MIXED, mode="skip")

    assert result.status == "done"
    assert errors(result) == [(3, "value", "invalid")]
    assert ContactPointConsent.objects.count() == History.objects.count() == 2
    assert (result.counts["opt_ins"], result.counts["opt_outs"], result.counts["invalid"]) == (
        1,
        1,
        1,
    )


def test_a_dry_run_counts_what_would_change_and_writes_nothing(commercial):
    factories.cp_consent(
        value="old@example.org",
        purpose_obj=commercial,
        status="opted_in",
        captured_at=timezone.now() - timedelta(days=1),
    )
    factories.cp_consent(value="same@example.org", purpose_obj=commercial, status="opted_in")
    contact_point_consent_set(
        channel="email",
        value="same@example.org",
        purpose=commercial,
        status="opted_out",
        evidence=Evidence(
            source="loaded", captured_at=datetime(2024, 1, 1, tzinfo=UTC), notice_version=""
        ),
    )
    records, history = ContactPointConsent.objects.count(), History.objects.count()
    text = csv_text(
        "email,new@example.org,Commercial,,opted_in,,,,",
        "email,old@example.org,Commercial,,opted_out,,,2020-01-01T00:00:00Z,",
        "email,same@example.org,Commercial,,opted_out,,,2024-01-01T00:00:00Z,",
        "email,out@example.org,Commercial,,opted_out,,,,",
        "email,bad,Commercial,,opted_out,,,,",
    )
    result = load(text, dry_run=True, mode="skip")

    assert result.status == "previewed"
    counts = result.counts
    assert (counts["opt_ins"], counts["opt_outs"], counts["unchanged"], counts["stale"]) == (
        1,
        1,
        1,
        1,
    )
    assert (counts["invalid"], counts["written"]) == (1, 0)
    assert (ContactPointConsent.objects.count(), History.objects.count()) == (records, history)
    assert result.chunks.exists()  # kept for the confirmation


def test_a_confirmed_preview_writes_as_a_new_load_that_takes_over_the_file(commercial, loader, dpo):
    preview = load(MIXED, dry_run=True, mode="skip", user=loader)
    confirmed = consent_load_run(
        load=consent_load_confirm(preview=preview, user=dpo, dispatch=False)
    )

    assert (confirmed.status, confirmed.preview, confirmed.counts["written"]) == (
        "done",
        preview,
        2,
    )
    assert {h.history_user for h in History.objects.all()} == {dpo}
    assert not ConsentLoadChunk.objects.exists()
    preview.refresh_from_db()
    assert preview.status == "previewed" and not preview.can_confirm
    with pytest.raises(ValidationError):
        consent_load_confirm(preview=preview, user=dpo, dispatch=False)


def test_a_reject_preview_with_invalid_rows_cannot_be_confirmed(commercial, dpo):
    preview = load(MIXED, dry_run=True)

    assert preview.status == "previewed" and not preview.can_confirm
    with pytest.raises(ValidationError):
        consent_load_confirm(preview=preview, user=dpo, dispatch=False)


def test_unconfirmed_preview_files_are_purged_after_a_day(commercial):
    preview = load(MIXED, dry_run=True, mode="skip")

    assert consent_load_files_purge() == 0
    assert consent_load_files_purge(now=timezone.now() + timedelta(days=2)) > 0
    assert not preview.can_confirm


def test_running_a_finished_load_again_changes_nothing(commercial):
    result = load(csv_text("email,ada@example.org,Commercial,,opted_in,,,,"))
    again = consent_load_run(load=result)

    assert again.status == "done"
    assert History.objects.count() == 1


def test_a_file_and_the_migration_mode_exclude_each_other(profile):
    with pytest.raises(ValidationError) as caught:
        consent_load_create(file=b"x", from_subjects=True, dispatch=False)
    assert "file" in caught.value.message_dict
    with pytest.raises(ValidationError):
        consent_load_create(dispatch=False)


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
