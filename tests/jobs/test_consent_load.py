"""The consent load (DESIGN §3.8) as a real Celery job: created through the service the admin
and the API use, dispatched when its transaction commits, run by a worker on Redis."""

from datetime import UTC, datetime

import pytest

from config.celery import app as celery_app
from consent.loads.runner import consent_load_confirm, consent_load_create
from consent.models import ConsentLoad, ConsentLoadChunk, ContactPointConsent
from consent.services.contact_points import suppression_add
from tests import factories
from tests.jobs.conftest import wait_for

HEADER = "channel,value,purpose,topic,status,source,reason,captured_at,requested_by\n"
History = ContactPointConsent.history.model


@pytest.fixture
def worker_queue(celery_worker):
    """Jobs dispatched without a queue (as the services dispatch them) go to the worker's."""
    previous = celery_app.conf.task_default_queue
    celery_app.conf.task_default_queue = celery_worker
    yield celery_worker
    celery_app.conf.task_default_queue = previous


@pytest.fixture
def catalog(db):
    profile = factories.compliance_profile()
    commercial = factories.purpose(profile=profile, name="Commercial")
    newsletter = factories.topic(purpose_obj=commercial, name="Newsletter")
    return profile, commercial, newsletter


def finished(load: ConsentLoad) -> ConsentLoad | None:
    load.refresh_from_db()
    return load if load.is_finished else None


def wait_until_finished(load: ConsentLoad) -> ConsentLoad:
    assert wait_for(lambda: finished(load) is not None, timeout=90), (
        f"the worker did not finish load {load.pk} (status {load.status})"
    )
    return load


def test_a_load_dispatched_to_a_real_worker_writes_records_history_and_counters(
    worker_queue, catalog, make_user
):
    profile, commercial, newsletter = catalog
    loader = make_user("loader", perms=["consent.add_consentload"])
    factories.cp_consent(
        value="stale@example.org",
        purpose_obj=commercial,
        status="opted_out",
        captured_at=datetime(2024, 6, 1, tzinfo=UTC),
    )
    suppression_add(channel="email", value="erased@example.org", reason="erasure")
    rows = [
        "email,Ada@Example.org,Commercial,,opted_in,form,web form 12,2024-05-01T10:00:00Z,ada",
        "email,ada@example.org,Commercial,Newsletter,opted_in,,,2024-05-01T10:00:00Z,",
        "email,bob@example.org,Commercial,,opted_out,,,2024-05-02T08:00:00Z,customer by phone",
        "email,stale@example.org,Commercial,,opted_in,,,2024-05-31T00:00:00Z,",
        "email,erased@example.org,Commercial,,opted_in,,,,",
        "email,not-an-address,Commercial,,opted_in,,,,",
    ]
    data = (HEADER + "".join(f"{row}\n" for row in rows)).encode()

    load = consent_load_create(
        profile=profile, file=data, file_name="crm-export.csv", mode="skip", user=loader
    )

    assert load.status == ConsentLoad.Status.PENDING  # the worker runs it, not this process
    load = wait_until_finished(load)
    assert (load.status, load.message) == (ConsentLoad.Status.DONE, "")
    assert load.counts == {
        "rows": 6,
        "opt_ins": 2,
        "opt_outs": 1,
        "other_changes": 0,
        "unchanged": 0,
        "stale": 1,
        "invalid": 1,
        "duplicates": 0,
        "suppressed": 1,
        "written": 3,
    }
    assert (load.rows_processed, load.rows_total, load.row_errors_total) == (6, 6, 2)
    assert [(e["line"], e["column"], e["kind"]) for e in load.row_errors] == [
        (6, "value", "suppressed"),
        (7, "value", "invalid"),
    ]
    assert load.started_at is not None and load.finished_at >= load.started_at
    assert not ConsentLoadChunk.objects.filter(load=load).exists()  # no copy of the file kept

    records = {
        (r.value, r.topic_id): r for r in ContactPointConsent.objects.filter(purpose=commercial)
    }
    assert set(records) == {
        ("ada@example.org", None),
        ("ada@example.org", newsletter.pk),
        ("bob@example.org", None),
        ("stale@example.org", None),
    }
    ada = records[("ada@example.org", None)]
    assert (ada.status, ada.source, ada.reason, ada.requested_by, ada.captured_by_id) == (
        "opted_in",
        "form",
        "web form 12",
        "ada",
        None,
    )
    assert ada.captured_at == datetime(2024, 5, 1, 10, tzinfo=UTC)
    bob = records[("bob@example.org", None)]
    assert (bob.status, bob.source, bob.requested_by) == (
        "opted_out",
        "loaded",
        "customer by phone",
    )
    assert records[("stale@example.org", None)].status == "opted_out"  # older row: not written

    loaded_history = History.objects.filter(history_change_reason="crm-export.csv")
    assert sorted(
        (h.value, h.topic_id or 0, h.history_type, h.history_source, h.status, h.history_user_id)
        for h in loaded_history
    ) == [
        ("ada@example.org", 0, "+", "form", "opted_in", loader.pk),
        ("ada@example.org", newsletter.pk, "+", "loaded", "opted_in", loader.pk),
        ("bob@example.org", 0, "+", "loaded", "opted_out", loader.pk),
    ]
    assert not History.objects.filter(value="erased@example.org").exists()
    assert History.objects.filter(value="stale@example.org").count() == 1  # its own creation


def test_a_preview_confirmed_runs_on_the_worker_and_a_refused_file_writes_nothing(
    worker_queue, catalog, make_user
):
    profile, commercial, _ = catalog
    loader = make_user("loader", perms=["consent.add_consentload"])
    good = HEADER + "email,cy@example.org,Commercial,,opted_in,,,2024-05-01T10:00:00Z,\n"
    refused = good + "email,dee@example.org,Unknown purpose,,opted_in,,,,\n"

    preview = wait_until_finished(
        consent_load_create(profile=profile, file=good.encode(), dry_run=True, user=loader)
    )
    rejected = wait_until_finished(
        consent_load_create(profile=profile, file=refused.encode(), file_name="b.csv", user=loader)
    )

    assert (preview.status, preview.counts["opt_ins"], preview.counts["written"]) == (
        ConsentLoad.Status.PREVIEWED,
        1,
        0,
    )
    assert (rejected.status, rejected.counts["invalid"], rejected.counts["written"]) == (
        ConsentLoad.Status.FAILED,
        1,
        0,
    )
    assert "nothing was written" in rejected.message
    assert not ContactPointConsent.objects.exists()

    confirmed = wait_until_finished(consent_load_confirm(preview=preview, user=loader))

    assert (confirmed.status, confirmed.counts["written"], confirmed.preview_id) == (
        ConsentLoad.Status.DONE,
        1,
        preview.pk,
    )
    record = ContactPointConsent.objects.get(purpose=commercial)
    assert (record.value, record.status) == ("cy@example.org", "opted_in")
    (row,) = record.history.all()
    assert (row.history_user_id, row.history_source, row.history_type) == (loader.pk, "loaded", "+")
