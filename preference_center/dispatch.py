"""Hand the public pages' e-mail jobs to Celery without the visitor ever waiting on the broker.

A public form must answer the same, in the same time, whatever happens behind it: for an
address we hold or not (the answer must not tell), and while the broker is down (a 500 for
the addresses that get a mail would tell, and so would a slower answer). So a page never
publishes a task itself: after its transaction commits it puts the job on an in-process queue
and answers. One daemon thread per process publishes the queued jobs; while the broker is
unreachable it retries with back-off (`RETRY_DELAYS`), and when every retry failed it runs the
job in that thread, so the mail still goes out (the retry path of issue 15 #13). A job lost
with its process (killed while the broker was down) costs a customer one mail: they ask again.

With no broker configured (tasks eager: development, tests) the job runs at once, in-process,
as every other task does there.
"""

import logging
import os
import queue
import threading
import time

from django.db import close_old_connections, transaction

logger = logging.getLogger(__name__)

RETRY_DELAYS = (1, 5, 15, 60, 120)  # seconds between publish attempts while the broker is down
QUEUE_SIZE = 10_000  # jobs waiting in one process; past that a job is dropped (and logged)

_jobs: queue.Queue = queue.Queue(maxsize=QUEUE_SIZE)
_publisher: dict[str, object] = {"pid": None, "thread": None}
_lock = threading.Lock()


def send_later(task, *args) -> None:
    """Run `task(*args)` in the background once the current transaction commits."""
    transaction.on_commit(lambda: _dispatch(task, args))


def _dispatch(task, args: tuple) -> None:
    if task.app.conf.task_always_eager:
        task.apply(args)
        return
    try:
        _jobs.put_nowait((task, args))
    except queue.Full:
        logger.error("Public-page job queue full: %s dropped", task.name)
        return
    _ensure_publisher()


def _ensure_publisher() -> None:
    with _lock:
        thread = _publisher["thread"]
        if _publisher["pid"] == os.getpid() and thread is not None and thread.is_alive():
            return
        thread = threading.Thread(target=_publish_forever, name="public-page-jobs", daemon=True)
        _publisher.update(pid=os.getpid(), thread=thread)
        thread.start()


def _publish_forever() -> None:
    while True:
        task, args = _jobs.get()
        try:
            publish(task, args)
        except Exception:  # never let one job stop the thread
            logger.exception("Public-page job %s failed", task.name)
        finally:
            close_old_connections()
            _jobs.task_done()


def publish(task, args: tuple) -> None:
    """Queue the task on the broker; while it is down, retry, then run the job here."""
    for delay in (*RETRY_DELAYS, None):
        try:
            task.apply_async(args, retry=False)
            return
        except Exception as exc:  # kombu.exceptions.OperationalError, OSError, ...
            logger.warning("Broker unreachable for %s (%s)", task.name, type(exc).__name__)
            if delay is None:
                break
            time.sleep(delay)
    logger.warning("Broker still unreachable: running %s in the web process", task.name)
    task.apply(args, throw=True)


def wait_until_idle() -> None:
    """Block until every queued job is published or run (tests, graceful shutdown)."""
    _jobs.join()
