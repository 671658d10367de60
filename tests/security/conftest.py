import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection


@pytest.fixture
def postgresql_only():
    """Row locks and concurrent connections: SQLite serializes writers, so only PostgreSQL
    (the production database, tested in CI) can show a race."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: row locks and truly concurrent connections")


def run_together(count: int, work: Callable[[int], object]) -> list:
    """Run `work(0..count-1)` in `count` threads released together by a barrier.

    Each thread uses its own database connection and closes it at the end. Returns each
    call's result, or the exception it raised, in thread order.
    """
    barrier = threading.Barrier(count)

    def run(n: int):
        try:
            barrier.wait()
            return work(n)
        except Exception as exc:
            return exc
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))
