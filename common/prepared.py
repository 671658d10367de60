"""Querysets compiled to SQL once, then run with new values: the hot path of a single check.

Building and compiling a queryset costs a few hundred microseconds of Python each time; running
its SQL costs a few tens. `PreparedQuery(build)` calls `build` once per connection and shape of
the arguments with marker values, compiles the queryset, finds each marker among the SQL
parameters, and from then on only binds the real values and converts the rows with that
compiler's converters, as the ORM does. The queryset stays the one definition of the query.

What it cannot vouch for runs through the ORM on every call, never as a wrong query: a marker
the ORM or the build function transformed (a lookup that pre-processes its value, a `.lower()`
in Python), one that ended up in the SQL text instead of a parameter, or one missing from the
parameters. A string marker mixes upper and lower case, digits, spaces and punctuation, so any
case fold, strip or other rewrite changes it and it is no longer found; the build is also
compiled with a second, different set of markers, and both must land in the same slots of the
same SQL.

`PREPARED_QUERY_VERIFY = True` (the test settings) runs every prepared query through the ORM too
and raises `PreparedQueryMismatch` on any difference.
"""

import functools
import threading
from collections.abc import Callable, Sequence
from itertools import count

from django.conf import settings
from django.core.exceptions import EmptyResultSet, ValidationError
from django.db import connections
from django.db.backends.utils import CursorDebugWrapper, CursorWrapper
from django.db.models import QuerySet

_COLLECTIONS = (list, tuple, set, frozenset)
# Fit a bigint, no real id is that large; spaced so `value + 1` is never another marker.
_INT_MARKER_BASES = (9_100_000_000_000_000_000, 9_200_000_000_000_000_000)
_INT_MARKER_STRIDE = 1_000_003
_STR_MARKER_FORMS = (" \x1fPrepared-Marker {0}/Ab\x1f ", " \x1fpREPARED-mARKER {0}\\aB\x1f ")


class PreparedQueryMismatch(AssertionError):
    """PREPARED_QUERY_VERIFY: the prepared path and the ORM returned different rows."""


class PreparedQuery:
    """`build(*args)` returns a `values_list()` queryset (not flat); `rows(*args)` returns the
    same list of tuples as `list(build(*args))`. Arguments are str or int values, or
    collections of them used as sets (`__in`): their size is part of the shape, their order
    is not kept."""

    def __init__(self, build: Callable[..., QuerySet], *, using: str = "default"):
        self.build = build
        self.using = using
        # Per thread, as Django's connections are: a compiler holds its thread's connection,
        # and what a thread compiled goes with the thread (no growth when servers churn them).
        self._local = threading.local()

    def rows(self, *args) -> list[tuple]:
        statement = self.statement(*args)
        if statement is None:
            return list(self.build(*args))
        with prepared_cursor(connections[self.using]) as cursor:
            cursor.execute(statement.sql, statement.params)
            return statement.rows(cursor.fetchall())

    def statement(self, *args) -> "BoundStatement | None":
        """The SQL and values of `rows(*args)`, to run on a cursor of one's own (in a pipeline
        with other statements); None when this shape runs through the ORM."""
        compiled_by_shape = self._local.__dict__.setdefault("compiled", {})
        key = _shape(args)
        try:
            compiled = compiled_by_shape[key]
        except KeyError:
            compiled = compiled_by_shape[key] = self._compile(args)
        if compiled is None:
            return None
        sql, slots, params, compiler = compiled
        values = _flatten(args)
        bound = [
            param if slot is None else values[slot]
            for slot, param in zip(slots, params, strict=True)
        ]
        return BoundStatement(self, args, sql, bound, compiler)

    def _compile(self, args: Sequence) -> tuple | None:
        first, second = (self._compile_with(args, form=form) for form in (0, 1))
        if first is None or second is None or first[:2] != second[:2]:
            return None  # the SQL text or the slots depend on the values: no shortcut
        return first

    def _compile_with(self, args: Sequence, *, form: int) -> tuple | None:
        numbers = count()
        markers = [_marker(arg, numbers, form) for arg in args]
        try:
            compiler = self.build(*markers).query.get_compiler(using=self.using)
            sql, params = compiler.as_sql()
        except EmptyResultSet:  # `__in` an empty collection: the ORM answers without a query
            return None
        except (ValueError, TypeError, ValidationError):  # the build rejects a marker value
            return None
        flat = _flatten(markers)
        index = {marker: position for position, marker in enumerate(flat)}
        slots = [index.get(param) if isinstance(param, int | str) else None for param in params]
        bound = {slot for slot in slots if slot is not None}
        inlined = any(isinstance(marker, str) and marker in sql for marker in flat)
        if bound != set(range(len(flat))) or inlined:
            return None  # a marker was transformed, inlined or dropped: no shortcut
        return sql, slots, list(params), compiler


class BoundStatement:
    """A PreparedQuery's statement with its values: `rows(fetched)` converts what a cursor
    fetched as the ORM would (and, under PREPARED_QUERY_VERIFY, checks it against the ORM)."""

    __slots__ = ("args", "compiler", "params", "query", "sql")

    def __init__(self, query: PreparedQuery, args: tuple, sql: str, params: list, compiler):
        self.query, self.args, self.sql, self.params = query, args, sql, params
        self.compiler = compiler

    def rows(self, fetched: list[tuple]) -> list[tuple]:
        rows = list(self.compiler.results_iter(results=[fetched], tuple_expected=True))
        if getattr(settings, "PREPARED_QUERY_VERIFY", False):
            expected = list(self.query.build(*self.args))
            if rows != expected:
                raise PreparedQueryMismatch(
                    f"{self.query.build!r}{self.args!r}: prepared {rows!r} != ORM {expected!r}"
                )
        return rows


def prepared_cursor(connection):
    """A cursor for a prepared query. On PostgreSQL a server-side binding one that prepares
    its statement (psycopg keeps it per connection, `prepared_max` of them), so PostgreSQL
    parses and plans a check's queries once per connection, not on every check; Django's own
    cursors bind on the client and never prepare. Wrapped as Django wraps its cursors: logged
    queries, execute wrappers and error translation stay the same. PREPARED_STATEMENTS = False
    keeps Django's cursor."""
    if connection.vendor != "postgresql" or not getattr(settings, "PREPARED_STATEMENTS", True):
        return connection.cursor()
    # As `connection.cursor()` does: CONN_HEALTH_CHECKS' test of a reused connection first.
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    with connection.wrap_database_errors:
        raw = _preparing_cursor_class()(connection.connection)
    if connection.queries_logged:
        return _PreparedDebugCursor(raw, connection)
    return connection.make_cursor(raw)


class _PreparedDebugCursor(CursorDebugWrapper):
    """Django's debug cursor logs a query from psycopg's client-side text, which a prepared
    statement does not have: log the statement with its values composed instead."""

    def execute(self, sql, params=None):
        with self.debug_sql(self.db.ops.compose_sql(sql, params or ())):
            return CursorWrapper.execute(self, sql, params)


@functools.cache
def _preparing_cursor_class():
    import psycopg  # PostgreSQL only

    class PreparingCursor(psycopg.Cursor):
        def execute(self, query, params=None, *, prepare=None, binary=None):
            return super().execute(query, params, prepare=True, binary=binary)

    return PreparingCursor


def _marker(arg, numbers, form: int):
    if isinstance(arg, _COLLECTIONS):
        return [_scalar_marker(item, numbers, form) for item in arg]
    return _scalar_marker(arg, numbers, form)


def _scalar_marker(value, numbers, form: int):
    number = next(numbers)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(f"PreparedQuery binds str and int values, not {type(value).__name__}")
    if isinstance(value, int):
        return _INT_MARKER_BASES[form] + number * _INT_MARKER_STRIDE
    return _STR_MARKER_FORMS[form].format(number)


def _flatten(args: Sequence) -> list:
    flat = []
    for arg in args:
        if isinstance(arg, _COLLECTIONS):
            flat.extend(arg)
        else:
            flat.append(arg)
    return flat


def _shape(args: Sequence) -> tuple:
    return tuple(
        (len(arg), frozenset(map(type, arg))) if isinstance(arg, _COLLECTIONS) else type(arg)
        for arg in args
    )
