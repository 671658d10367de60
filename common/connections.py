"""A read that spares a request Django's connection health check.

With CONN_HEALTH_CHECKS, Django asks a persistent connection `SELECT 1` before the first
statement of every request, so a connection the server dropped while idle is replaced instead of
failing the request. For a consent check that is a round trip in two (docs/performance.md).
`read_checked_on_failure` gives the same guarantee for a pure read without that round trip: the
read's own first statement is the check. If it fails because the connection is dead, the
connection is closed and the read runs once more on a new one; any other error is raised as is.
"""

from collections.abc import Callable
from typing import TypeVar

from django.db import DEFAULT_DB_ALIAS, InterfaceError, OperationalError, connections

T = TypeVar("T")


def read_checked_on_failure(read: Callable[[], T], *, using: str = DEFAULT_DB_ALIAS) -> T:
    """`read()`, the connection's health checked only if it fails. `read` must write nothing:
    it may run twice. (Inside a transaction there is nothing to spare: Django checked the
    connection when the transaction began.)"""
    connection = connections[using]
    if (
        connection.connection is None  # a new connection needs no check
        or not connection.health_check_enabled
        or connection.health_check_done
    ):
        return read()
    connection.health_check_done = True  # Django's `SELECT 1` is not asked for this request
    try:
        return read()
    except (OperationalError, InterfaceError):
        if connection.is_usable():
            raise  # the connection is fine: the error is the read's own
        connection.close()
        return read()
