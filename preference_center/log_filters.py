"""Keep link tokens and e-mail addresses out of the logs.

Django logs the path of every 4xx/5xx answer (`django.request`), of CSRF failures
(`django.security.csrf`) and, under runserver, of every request line, query string included
(`django.server`). A token in such a path is a working link to someone's preferences, and an
address someone put in a query string is personal data, so the filter replaces both before any
handler sees the record. `PreferenceCenterConfig.ready()` installs it on those loggers.
"""

import logging
import re

REDACTED = "[redacted]"
# The token segment of /preferences/<token>/, /subscribe/confirm/<token>/, /unsubscribe/<token>/.
TOKEN_PATH = re.compile(r"(/(?:preferences|subscribe/confirm|unsubscribe)/)[^/\s?#\"'<>]+")
# An e-mail address, plain or percent-encoded (`%40`), as it appears in a URL or a query string.
EMAIL_ADDRESS = re.compile(r"[^\s/?&=#\"'<>:;,]+(?:@|%40)[^\s/?&=#\"'<>:;,]+", re.IGNORECASE)
LOGGERS = ("django.request", "django.server", "django.security.csrf")


def redact(text: str) -> str:
    return EMAIL_ADDRESS.sub(REDACTED, TOKEN_PATH.sub(rf"\g<1>{REDACTED}", text))


class RedactTokensFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


def install() -> None:
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactTokensFilter) for f in logger.filters):
            logger.addFilter(RedactTokensFilter())
