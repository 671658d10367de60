"""Query capture that stays exact over thousands of requests.

Django keeps at most 9,000 statements in `connection.queries_log`; once it is full,
CaptureQueriesContext's slice of it comes back empty. The log is cleared before each capture.
"""

from contextlib import contextmanager

from django.db import connection, reset_queries
from django.test.utils import CaptureQueriesContext


@contextmanager
def captured_queries():
    reset_queries()
    with CaptureQueriesContext(connection) as context:
        yield context


@contextmanager
def counting_queries():
    """Counts statements without the debug cursor's cost of rendering each one's SQL."""
    counter = {"queries": 0}

    def count(execute, sql, params, many, context):
        counter["queries"] += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        yield counter
