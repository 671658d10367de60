"""Querysets compiled to SQL once, then run with new values: the hot path of a single check.

Building and compiling a queryset costs a few hundred microseconds of Python each time; running
its SQL costs a few tens. `PreparedQuery(build)` calls `build` once per connection and shape of
the arguments with marker values, compiles the queryset, finds each marker among the SQL
parameters, and from then on only binds the real values and converts the rows with that
compiler's converters, as the ORM does. The queryset stays the one definition of the query.

What it cannot vouch for runs through the ORM on every call, never as a wrong query: a marker
the ORM transformed (a lookup that pre-processes its value), one that ended up in the SQL text
instead of a parameter, or one missing from the parameters.
"""

import threading
from collections.abc import Callable, Sequence
from itertools import count

from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import QuerySet

_COLLECTIONS = (list, tuple, set, frozenset)
_INT_MARKER_BASE = 9_100_000_000_000_000_000  # fits a bigint; no real id is that large


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
        connection = connections[self.using]
        compiled_by_shape = self._local.__dict__.setdefault("compiled", {})
        key = _shape(args)
        try:
            compiled = compiled_by_shape[key]
        except KeyError:
            compiled = compiled_by_shape[key] = self._compile(args)
        if compiled is None:
            return list(self.build(*args))
        sql, slots, params, compiler = compiled
        values = _flatten(args)
        bound = [
            param if slot is None else values[slot]
            for slot, param in zip(slots, params, strict=True)
        ]
        with connection.cursor() as cursor:
            cursor.execute(sql, bound)
            rows = cursor.fetchall()
        return list(compiler.results_iter(results=[rows], tuple_expected=True))

    def _compile(self, args: Sequence) -> tuple | None:
        numbers = count()
        markers = [_marker(arg, numbers) for arg in args]
        compiler = self.build(*markers).query.get_compiler(using=self.using)
        try:
            sql, params = compiler.as_sql()
        except EmptyResultSet:  # `__in` an empty collection: the ORM answers without a query
            return None
        flat = _flatten(markers)
        index = {marker: position for position, marker in enumerate(flat)}
        slots = [index.get(param) if isinstance(param, int | str) else None for param in params]
        bound = {slot for slot in slots if slot is not None}
        inlined = any(isinstance(marker, str) and marker in sql for marker in flat)
        if bound != set(range(len(flat))) or inlined:
            return None  # a marker was transformed, inlined or dropped: no shortcut
        return sql, slots, list(params), compiler


def _marker(arg, numbers):
    if isinstance(arg, _COLLECTIONS):
        return [_scalar_marker(item, numbers) for item in arg]
    return _scalar_marker(arg, numbers)


def _scalar_marker(value, numbers):
    number = next(numbers)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(f"PreparedQuery binds str and int values, not {type(value).__name__}")
    if isinstance(value, int):
        return _INT_MARKER_BASE + number
    return f"\x1fprepared-marker-{number}\x1f"


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
