"""A real Celery worker on Redis, sharing the test database (DESIGN.md §2, issue 7).

Redis must be reachable in CI (CI=true): the tests fail there rather than skip. On a developer
machine without Redis they are skipped with a clear reason.
"""

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connection

from config.celery import app as celery_app

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
BASE_DIR = Path(__file__).resolve().parents[2]


def redis_available() -> bool:
    try:
        return redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError:
        return False


def database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture(scope="session")
def _session_worker(django_db_setup, django_db_blocker):
    if not redis_available():
        if os.environ.get("CI"):
            pytest.fail(f"Redis is not reachable at {REDIS_URL}; CI needs it for worker tests.")
        pytest.skip(f"Redis is not reachable at {REDIS_URL}")
    with django_db_blocker.unblock():
        url = database_url()
    queue = f"test-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "true",
        "DATABASE_URL": url,
        "CELERY_BROKER_URL": REDIS_URL,
        "CACHE_URL": REDIS_URL.rsplit("/", 1)[0] + "/14",
        # The test settings' keys: suppression hashes and signed links must match the worker's.
        "SECRET_KEY": settings.SECRET_KEY,
        "SUPPRESSION_HASH_KEY": settings.SUPPRESSION_HASH_KEY,
        # Webhook receivers listen on 127.0.0.1; a killed receiver is retried within a second.
        "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
        "WEBHOOK_RETRY_BASE_SECONDS": "0.2",
        "WEBHOOK_RETRY_MAX_SECONDS": "1",
    }
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool=prefork",
            "--concurrency=2",
            "-Q",
            queue,
            "-n",
            f"{queue}@%h",
            "--loglevel=WARNING",
        ],
        cwd=BASE_DIR,
        env=env,
    )
    previous = {key: celery_app.conf[key] for key in ("broker_url", "task_always_eager")}
    celery_app.conf.update(broker_url=REDIS_URL, task_always_eager=False)
    _forget_connections()
    try:
        _wait_until_ready(f"{queue}@")
        yield queue
    finally:
        celery_app.conf.update(previous)
        _forget_connections()
        worker.terminate()
        worker.wait(timeout=30)


@pytest.fixture
def celery_worker(_session_worker, transactional_db):
    """The queue of a running worker; the test's data is committed, so the worker sees it."""
    return _session_worker


def _forget_connections() -> None:
    """Drop pools made for the previous broker URL (an earlier test may have opened one)."""
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


def _wait_until_ready(name_prefix: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        replies = celery_app.control.ping(timeout=1)
        if any(name.startswith(name_prefix) for reply in replies for name in reply):
            return
    raise AssertionError("the Celery worker did not start")


def wait_for(predicate, timeout: float = 60, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False
