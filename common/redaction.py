"""Keep personal data and link tokens out of the logs and the error reports.

Django logs the path of every 4xx/5xx answer and the traceback of every 500 (`django.request`),
CSRF failures (`django.security.csrf`) and, under runserver, every request line with its query
string (`django.server`); with `ADMINS` set it mails a full report of each 500, request and
local variables included. A token in a path is a working link to someone's preferences; an
address, a phone number or a name someone put in a query string (`?q=Lovelace`,
`?value=+31610000001`) is personal data. So:

* `redact()` replaces link tokens in public paths, e-mail addresses, E.164 phone numbers, and
  the value of every query parameter except a few harmless ones (`KEPT_PARAMETERS`);
* `RedactFilter` applies it to a log record's message and traceback, and also removes the
  literal query-string values of the record's request wherever they appear (an exception
  message quoting `?q=` included);
* `RedactingExceptionReporter` (DEFAULT_EXCEPTION_REPORTER) does the same to the 500 report
  that `AdminEmailHandler` mails: query values, the URI, META and every frame's variables.
"""

import logging
import re
from urllib.parse import unquote_plus

from django.views.debug import ExceptionReporter

REDACTED = "[redacted]"
# The token segment of /preferences/<token>/, /subscribe/confirm/<token>/, /unsubscribe/<token>/.
TOKEN_PATH = re.compile(r"(/(?:preferences|subscribe/confirm|unsubscribe)/)[^/\s?#\"'<>]+")
# An e-mail address, plain or percent-encoded (`%40`), as it appears in a URL or a query string.
EMAIL_ADDRESS = re.compile(r"[^\s/?&=#\"'<>:;,]+(?:@|%40)[^\s/?&=#\"'<>:;,]+", re.IGNORECASE)
# A phone number in international form (`+`, or `%2B` in a URL), separators allowed.
PHONE_NUMBER = re.compile(r"(?:\+|%2[bB])[1-9](?:[ .()/-]?\d|%20\d){6,16}")
# A query string: from `?` to the end of the URL.
QUERY_STRING = re.compile(r"\?([^\s\"'#<>]*)")
# Parameters whose values carry no personal data and help reading a log.
KEPT_PARAMETERS = frozenset(
    {
        *("lang", "page", "page_size", "format", "view", "o", "all", "saved", "opt_in"),
        *("explain", "channel", "purpose", "topic", "profile", "status", "mode"),
    }
)
KEPT_VALUE = re.compile(r"[\w.,-]{0,40}")
MIN_LITERAL = 3  # shorter query values are not searched for in free text (too many false hits)


def redact(text: str, *, literals: frozenset[str] = frozenset()) -> str:
    text = QUERY_STRING.sub(_redact_query, text)
    text = TOKEN_PATH.sub(rf"\g<1>{REDACTED}", text)
    text = EMAIL_ADDRESS.sub(REDACTED, text)
    text = PHONE_NUMBER.sub(REDACTED, text)
    for literal in sorted(literals, key=len, reverse=True):
        text = text.replace(literal, REDACTED)
    return text


def _redact_query(match: re.Match) -> str:
    pairs = []
    for pair in re.split(r"[&;]", match.group(1)):
        name, sep, value = pair.partition("=")
        if not sep or _kept(name, value):
            pairs.append(pair)
        else:
            pairs.append(f"{name}={REDACTED}")
    return "?" + "&".join(pairs)


def _kept(name: str, value: str) -> bool:
    return unquote_plus(name) in KEPT_PARAMETERS and bool(KEPT_VALUE.fullmatch(value))


def query_literals(request) -> frozenset[str]:
    """The values of a request's query string that `redact` hides, to find them anywhere."""
    query = getattr(request, "GET", None)
    if query is None:
        return frozenset()
    return frozenset(
        variant
        for name, values in query.lists()
        for value in values
        if not _kept(name, value) and len(value) >= MIN_LITERAL
        for variant in (value, repr(value)[1:-1])
    )


class RedactFilter(logging.Filter):
    """Redacts a record's message and its formatted traceback before any handler sees them."""

    def filter(self, record: logging.LogRecord) -> bool:
        literals = query_literals(getattr(record, "request", None))
        message = record.getMessage()
        redacted = redact(message, literals=literals)
        if redacted != message:
            record.msg, record.args = redacted, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, literals=literals)
        return True


class RedactingExceptionReporter(ExceptionReporter):
    """Django's 500 report (mailed to ADMINS) with query values, tokens and addresses hidden."""

    def get_traceback_data(self):
        data = super().get_traceback_data()
        literals = query_literals(self.request)
        clean = lambda value: redact(str(value), literals=literals)  # noqa: E731
        if "request_GET_items" in data:
            data["request_GET_items"] = [
                (name, value if _kept(name, value) else REDACTED)
                for name, value in data["request_GET_items"]
            ]
        if "filtered_POST_items" in data:
            data["filtered_POST_items"] = [(k, clean(v)) for k, v in data["filtered_POST_items"]]
        for key in ("request_insecure_uri", "exception_value"):
            if data.get(key):
                data[key] = clean(data[key])
        if "request_meta" in data:
            data["request_meta"] = {k: clean(v) for k, v in data["request_meta"].items()}
        if self.request is not None and hasattr(self.request, "path_info"):
            data["request"] = _RedactedRequest(self.request, clean)
        for frame in data.get("frames", []):
            frame["vars"] = [(name, clean(value)) for name, value in frame.get("vars", [])]
            frame["exc_cause"] = clean(frame["exc_cause"]) if frame.get("exc_cause") else None
        return data


class _RedactedRequest:
    """The request as the report template reads it: path and full path redacted."""

    def __init__(self, request, clean):
        self._request = request
        self._clean = clean

    def __getattr__(self, name):
        return getattr(self._request, name)

    @property
    def path_info(self):
        return self._clean(self._request.path_info)

    def get_full_path(self):
        return self._clean(self._request.get_full_path())

    def get_raw_uri(self):  # pragma: no cover - older templates
        return self._clean(self._request.build_absolute_uri())

    def build_absolute_uri(self, *args):
        return self._clean(self._request.build_absolute_uri(*args))
