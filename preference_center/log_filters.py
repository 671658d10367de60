"""Keep link tokens out of the logs.

Django logs the path of every 4xx/5xx answer (`django.request`), of CSRF failures
(`django.security.csrf`) and, under runserver, of every request (`django.server`). A token in
such a path is a working link to someone's preferences, so the filter replaces it before any
handler sees the record. `PreferenceCenterConfig.ready()` installs it on those loggers.
"""

import logging
import re

REDACTED = "[redacted]"
# The token segment of /preferences/<token>/, /subscribe/confirm/<token>/, /unsubscribe/<token>/.
TOKEN_PATH = re.compile(r"(/(?:preferences|subscribe/confirm|unsubscribe)/)[^/\s?#\"'<>]+")
LOGGERS = ("django.request", "django.server", "django.security.csrf")


def redact(text: str) -> str:
    return TOKEN_PATH.sub(rf"\g<1>{REDACTED}", text)


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
