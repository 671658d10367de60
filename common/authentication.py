"""API token authentication that remembers a token's user for a few seconds per process.

DRF's TokenAuthentication reads the token and its user on every request, and the permission
check then reads the user's own and group permissions: three queries before a consent check
asks its first question, most of the request's time (docs/performance.md, "Where a check's
time goes"). A sending system calls the check API with the same token thousands of times a
minute, so each process keeps what it found — the user with its permissions loaded — for
API_TOKEN_CACHE_SECONDS, and hands every request its own copy.

The price: a deleted token, a deactivated user or a withdrawn permission still works for at
most that long in a process that saw it. 0 turns the cache off.
"""

import copy
import threading
import time

from django.conf import settings
from rest_framework.authentication import TokenAuthentication

MAX_ENTRIES = 1024  # tokens remembered per process; unknown keys are never remembered


class CachedTokenAuthentication(TokenAuthentication):
    """`Authorization: Token <key>`, as DRF's, with a per-process cache of valid tokens."""

    _cache: dict[str, tuple[float, object, object]] = {}
    _lock = threading.Lock()

    def authenticate_credentials(self, key):
        ttl = settings.API_TOKEN_CACHE_SECONDS
        if ttl <= 0:
            return super().authenticate_credentials(key)
        now = time.monotonic()
        entry = self._cache.get(key)
        if entry is None or entry[0] <= now:
            user, token = super().authenticate_credentials(key)  # raises for bad keys
            user.get_all_permissions()  # loads the permission caches has_perm() reads
            entry = (now + ttl, user, token)
            self._remember(key, entry, now)
        _, user, token = entry
        # Each request gets its own instance (code may set attributes on request.user); the
        # copy shares the loaded permission sets, which nothing mutates.
        return copy.copy(user), token

    @classmethod
    def _remember(cls, key: str, entry: tuple, now: float) -> None:
        with cls._lock:
            if len(cls._cache) >= MAX_ENTRIES:
                for stale in [k for k, (expires, *_) in cls._cache.items() if expires <= now]:
                    del cls._cache[stale]
                if len(cls._cache) >= MAX_ENTRIES:
                    cls._cache.clear()
            cls._cache[key] = entry

    @classmethod
    def forget_all(cls) -> None:
        """Empty this process's cache (tests)."""
        with cls._lock:
            cls._cache.clear()
