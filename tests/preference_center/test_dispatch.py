"""Issue 15 #13 and #15: the public forms answer the same, with the same work, for every
address, and while the broker is down.

The pages queue their e-mail jobs on an in-process queue (`preference_center.dispatch`); one
thread publishes them, retries while the broker is down, and at last runs them itself.
"""

import time

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from kombu.exceptions import OperationalError

from config.celery import app as celery_app
from preference_center import dispatch, tasks
from tests import factories

pytestmark = pytest.mark.django_db
PATH = "/preferences/"
KNOWN, UNKNOWN = "known@example.org", "nobody@example.org"
UNREACHABLE_BROKER = "redis://127.0.0.1:1/0"  # nothing listens on port 1


def _forget_connections() -> None:
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@pytest.fixture
def broker_down():
    """A configured broker that cannot be reached (tasks are not eager)."""
    previous = {key: celery_app.conf[key] for key in ("broker_url", "task_always_eager")}
    celery_app.conf.update(broker_url=UNREACHABLE_BROKER, task_always_eager=False)
    _forget_connections()
    yield
    dispatch.wait_until_idle()
    celery_app.conf.update(previous)
    _forget_connections()


@pytest.fixture
def not_eager():
    celery_app.conf.update(task_always_eager=False)
    yield
    dispatch.wait_until_idle()
    celery_app.conf.update(task_always_eager=True)


@pytest.fixture
def published(monkeypatch, not_eager):
    """A broker that works: the jobs published, in order (tasks are not eager)."""
    calls = []
    for task in (tasks.send_manage_link, tasks.send_sign_up_confirmation):
        monkeypatch.setattr(
            task, "apply_async", lambda args, task=task, **kw: calls.append((task.name, args))
        )
    return calls


@pytest.fixture
def known(profile, catalog):
    factories.cp_consent(value=KNOWN, purpose_obj=catalog["offers"], status="opted_in")
    factories.contact(email=KNOWN)


def post(client, email: str, path: str, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return client.post(path, {"email": email})


def test_known_and_unknown_addresses_cost_the_same_queries_and_queue_the_same_job(
    client, profile, known, published, django_capture_on_commit_callbacks
):
    path = f"{PATH}?profile={profile.slug}"
    queries, bodies = {}, {}
    for address in (KNOWN, UNKNOWN):
        with CaptureQueriesContext(connection) as captured:
            response = post(client, address, path, django_capture_on_commit_callbacks)
        queries[address] = [q["sql"] for q in captured.captured_queries]
        bodies[address] = response.content.replace(address.encode(), b"ADDRESS")
    dispatch.wait_until_idle()
    assert queries[KNOWN] == queries[UNKNOWN]  # the same statements, whatever the address
    assert bodies[KNOWN] == bodies[UNKNOWN]
    assert [name for name, _ in published] == [tasks.send_manage_link.name] * 2
    assert [args[2] for _, args in published] == [KNOWN, UNKNOWN]


def test_the_background_job_mails_only_an_address_we_hold(profile, known):
    assert tasks.send_manage_link.apply((profile.pk, "email", UNKNOWN, "en")).get() is False
    assert tasks.send_manage_link.apply((profile.pk, "email", KNOWN, "en")).get() is True
    assert [m.to for m in mail.outbox] == [[KNOWN]]


def test_with_the_broker_down_the_link_request_answers_the_same_for_everyone(
    client, profile, known, broker_down, monkeypatch, django_capture_on_commit_callbacks
):
    ran_here = []
    monkeypatch.setattr(dispatch, "RETRY_DELAYS", ())
    monkeypatch.setattr(tasks.send_manage_link, "apply", lambda args, **kw: ran_here.append(args))
    path = f"{PATH}?profile={profile.slug}"
    answers = {}
    for address in (KNOWN, UNKNOWN):
        started = time.monotonic()
        response = post(client, address, path, django_capture_on_commit_callbacks)
        answers[address] = (
            response.status_code,
            response.content.replace(address.encode(), b"ADDRESS"),
            time.monotonic() - started < 2,  # the visitor never waits on the broker
        )
    assert answers[KNOWN] == answers[UNKNOWN]
    assert answers[KNOWN][0] == 200 and answers[KNOWN][2]
    dispatch.wait_until_idle()
    # The retry path: publishing failed, so the publisher ran both jobs itself.
    assert [args[2] for args in ran_here] == [KNOWN, UNKNOWN]


def _refused(args, **kwargs):
    raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")


def test_with_the_broker_down_a_double_opt_in_sign_up_answers_as_usual(
    client, profile, catalog, monkeypatch, not_eager, django_capture_on_commit_callbacks
):
    ran_here = []
    monkeypatch.setattr(dispatch, "RETRY_DELAYS", ())
    monkeypatch.setattr(tasks.send_sign_up_confirmation, "apply_async", _refused)
    monkeypatch.setattr(
        tasks.send_sign_up_confirmation, "apply", lambda args, **kw: ran_here.append(args)
    )
    profile.double_opt_in = "always"
    profile.save()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("preference_center:subscribe", args=[profile.slug]),
            {"email": "new@example.org", "topic": [catalog["events"].pk]},
        )
    assert response.status_code == 200
    assert b"confirm" in response.content.lower()
    dispatch.wait_until_idle()
    assert [args[0]["v"] for args in ran_here] == ["new@example.org"]


def test_the_publisher_retries_and_then_runs_the_job_itself(monkeypatch, profile, known):
    attempts = []

    def broker_down(args, **kwargs):
        attempts.append(args)
        _refused(args)

    monkeypatch.setattr(dispatch, "RETRY_DELAYS", (0, 0))
    monkeypatch.setattr(tasks.send_manage_link, "apply_async", broker_down)
    dispatch.publish(tasks.send_manage_link, (profile.pk, "email", KNOWN, "en"))
    assert len(attempts) == 3
    assert [m.to for m in mail.outbox] == [[KNOWN]]  # sent after all


def test_the_publisher_stops_at_the_first_success(monkeypatch):
    attempts = []

    def flaky(args, **kwargs):
        attempts.append(args)
        if len(attempts) < 2:
            raise OperationalError("down")

    monkeypatch.setattr(dispatch, "RETRY_DELAYS", (0, 0, 0))
    monkeypatch.setattr(tasks.send_manage_link, "apply_async", flaky)
    dispatch.publish(tasks.send_manage_link, (1, "email", KNOWN, "en"))
    assert len(attempts) == 2
