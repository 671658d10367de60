"""Keep link tokens and personal data out of Django's own loggers (see `common.redaction`).

`PreferenceCenterConfig.ready()` installs the filter on the loggers that print paths and query
strings, so it acts even where a deployment replaces the LOGGING handlers; `config.settings`
also puts it on the console handler.
"""

import logging

from common.redaction import REDACTED, RedactFilter, redact

__all__ = ["LOGGERS", "REDACTED", "RedactTokensFilter", "install", "redact"]

LOGGERS = ("django.request", "django.server", "django.security.csrf", "django.security")
RedactTokensFilter = RedactFilter


def install() -> None:
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactFilter) for f in logger.filters):
            logger.addFilter(RedactFilter())
