"""A fixed-window rate limiter on the Django cache (Redis in production, shared by processes).

Keys hold a keyed hash of what is counted (an IP address, an e-mail address), never the value.
"""

import time

from django.conf import settings
from django.core.cache import cache
from django.utils.crypto import salted_hmac

KEY_SALT = "preference_center.ratelimit"


def allow(scope: str, subject: str, *, limit: int, window: int) -> bool:
    """Count one attempt of `subject` in `scope`; False once more than `limit` in this window."""
    digest = salted_hmac(KEY_SALT, f"{scope}:{subject}", algorithm="sha256").hexdigest()[:32]
    key = f"pc-rate:{scope}:{digest}:{int(time.time() // window)}"
    cache.add(key, 0, timeout=window)
    try:
        count = cache.incr(key)
    except ValueError:  # the key expired between add and incr
        cache.add(key, 1, timeout=window)
        count = 1
    return count <= limit


def allow_form_post(*, form: str, ip_address: str | None, address: str | None) -> bool:
    """The limits of a public form post: per client IP, and per address once one is known.

    Both counters are incremented, so a refused attempt still counts (no probing in between).
    """
    window = settings.PREFERENCE_RATE_LIMIT_WINDOW_SECONDS
    allowed = allow(
        f"{form}:ip",
        ip_address or "unknown",
        limit=settings.PREFERENCE_RATE_LIMIT_PER_IP,
        window=window,
    )
    if address is not None:
        allowed &= allow(
            f"{form}:address",
            address,
            limit=settings.PREFERENCE_RATE_LIMIT_PER_ADDRESS,
            window=window,
        )
    return allowed


def retry_after() -> int:
    window = settings.PREFERENCE_RATE_LIMIT_WINDOW_SECONDS
    return window - int(time.time() % window)
