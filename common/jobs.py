"""A lock so two overlapping runs of a periodic job do not both work."""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from django.core.cache import cache


@contextmanager
def single_run(name: str, *, timeout: int) -> Iterator[bool]:
    """Yields True for the one holder of the lock, False for anyone arriving meanwhile.

    `cache.add` is atomic on Redis and memcached; the timeout frees the lock if the holder dies.
    """
    key, token = f"job-lock:{name}", uuid.uuid4().hex
    acquired = cache.add(key, token, timeout)
    try:
        yield acquired
    finally:
        if acquired and cache.get(key) == token:
            cache.delete(key)
