"""Reads from a PostgreSQL read replica, where the caller asks for it.

`DATABASE_REPLICA_URL` adds the database alias named by `settings.READ_REPLICA` ("replica").
Nothing reads from it unless asked: a replica lags its primary, and most reads must see the
writes just made. Reads that can live with a lag of a second or two — audiences, exports,
`as_of` reports — run inside `reading_from_replica()` (a context manager and a decorator):

    with reading_from_replica():
        rows = list(MarketingList.objects.all())   # from the replica, when there is one

`ReplicaRouter` (in DATABASE_ROUTERS) sends those reads to the replica, and every write to
default. With no replica configured everything uses default. A read inside a transaction on
default stays on default, so it sees that transaction's own writes.

A streamed response is consumed after the view has returned, outside its `with` block (and, on
some servers, in another thread): wrap its iterator in `streamed_from_replica()`.
"""

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections

# A context variable, not a thread-local: each thread and each asyncio task has its own.
_reading = ContextVar("reading_from_replica", default=False)


@contextmanager
def reading_from_replica():
    """Routed reads inside the block go to the replica (when one is configured)."""
    token = _reading.set(True)
    try:
        yield
    finally:
        _reading.reset(token)


_END = object()


def streamed_from_replica(chunks: Iterable) -> Iterator:
    """`chunks`, each produced inside `reading_from_replica()`, never leaking the routing into
    the server's code between two chunks (a streamed audience yields one chunk per 1,000 rows)."""
    iterator = iter(chunks)
    try:
        while True:
            with reading_from_replica():
                chunk = next(iterator, _END)
            if chunk is _END:
                return
            yield chunk
    finally:
        # A client gone mid-stream: close the source now (its cursor, its transaction), as
        # the server would have closed it without this wrapper.
        close = getattr(iterator, "close", None)
        if close is not None:
            with reading_from_replica():
                close()


def replica_alias() -> str | None:
    """The alias routed reads go to now, or None when they stay on default."""
    alias = settings.READ_REPLICA
    if not alias or not _reading.get():
        return None
    if connections[DEFAULT_DB_ALIAS].in_atomic_block:
        return None  # read your own writes: the replica has not seen them
    return alias


class ReplicaRouter:
    """DATABASE_ROUTERS entry: routed reads to the replica, every write to default."""

    def db_for_read(self, model, **hints):
        return replica_alias()  # None: Django's default choice (the instance's db, or default)

    def db_for_write(self, model, **hints):
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints):
        return True  # the replica holds the same rows as default

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == DEFAULT_DB_ALIAS  # a replica follows its primary's schema
