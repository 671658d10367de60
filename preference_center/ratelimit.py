"""Rate limits of the public forms: a fixed window on the Django cache (Redis in production).

Two kinds of limit, chosen so that nobody can lock a victim out (issue 15 #16):

* **per client IP** (`PREFERENCE_RATE_LIMIT_PER_IP`): strict. Past it a form answers 429. It
  stops one client from flooding the forms; it only ever refuses the client that sent too much.
* **per address** (`PREFERENCE_RATE_LIMIT_PER_ADDRESS`): limits the *mails sent* to one
  address, never the answer. Past it the page answers exactly as before (so it tells nothing)
  and simply sends no further mail in this window. Someone who posts a victim's address many
  times therefore cannot lock the victim out: the victim's own request is answered as usual,
  and the mails the attacker caused went to the victim's inbox, each with a working link.

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


def allow_client(*, form: str, ip_address: str | None) -> bool:
    """The strict per-IP limit of a public form post (a refused attempt still counts)."""
    return allow(
        f"{form}:ip",
        ip_address or "unknown",
        limit=settings.PREFERENCE_RATE_LIMIT_PER_IP,
        window=settings.PREFERENCE_RATE_LIMIT_WINDOW_SECONDS,
    )


def allow_mail(*, form: str, address: str) -> bool:
    """May this form send one more mail to `address` in this window? Counted for every address
    asked for, known or not, so the work done does not depend on it."""
    return allow(
        f"{form}:address",
        address,
        limit=settings.PREFERENCE_RATE_LIMIT_PER_ADDRESS,
        window=settings.PREFERENCE_RATE_LIMIT_WINDOW_SECONDS,
    )


def retry_after() -> int:
    window = settings.PREFERENCE_RATE_LIMIT_WINDOW_SECONDS
    return window - int(time.time() % window)
