"""Row validation: the CSV header, and one validator that turns each row into a staged row or a
row-numbered error.
"""

import operator
from collections import Counter
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import translation

from common.audit import Source
from consent.addresses import (
    address_hasher,
    normalize_address,
)
from consent.loads.report import LoadRefused
from consent.models import (
    Channel,
    ComplianceProfile,
    ContactPointConsent,
    Purpose,
)
from subjects.normalize import simple_email

Status = ContactPointConsent.Status


COLUMNS = (
    "channel",
    "value",
    "purpose",
    "topic",
    "status",
    "source",
    "reason",
    "captured_at",
    "requested_by",
)


REQUIRED_COLUMNS = ("channel", "value", "purpose", "status")


HEADER = ",".join(COLUMNS)


FUTURE_TOLERANCE = timedelta(minutes=5)  # clock skew between the source system and us


EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)


ONE_MICROSECOND = timedelta(microseconds=1)


FIELD_MAX = {"reason": 200, "requested_by": 200}
REASON_MAX, REQUESTED_BY_MAX = FIELD_MAX["reason"], FIELD_MAX["requested_by"]


# Plain strings (not enum members): they are compared and serialized a million times.
STATUSES = frozenset(str(code) for code in Status.values)


SOURCES = frozenset(str(code) for code in Source.values)


CHANNELS = frozenset(str(code) for code in Channel.values)


LOADED = str(Source.LOADED)


EMAIL = str(Channel.EMAIL)


# A staged row: (line, channel, value, value_hash, purpose_id, topic_id, status, source, reason,
# requested_by, captured_us, captured_given). `captured_us` is microseconds since the epoch
# (exact on both backends); `value_hash` is the keyed hash the suppression check matches.
StagedRow = tuple


def header_columns(header: list[str] | None) -> dict[str, int]:
    """{column name: index}; refuses a header that lacks, repeats or invents columns."""
    if not header:
        raise LoadRefused(f"The file has no header line. It must start with: {HEADER}")
    names = [name.strip().lower() for name in header]
    problems = []
    missing = [name for name in REQUIRED_COLUMNS if name not in names]
    if missing:
        problems.append(f"missing column(s) {', '.join(missing)}")
    unknown = sorted({name for name in names if name not in COLUMNS})
    if unknown:
        problems.append(f"unknown column(s) {', '.join(_short(name) for name in unknown[:5])}")
    repeated = sorted(name for name, n in Counter(names).items() if n > 1 and name in COLUMNS)
    if repeated:
        problems.append(f"repeated column(s) {', '.join(repeated)}")
    if problems:
        hint = ""
        if len(header) == 1 and ";" in header[0]:
            hint = (
                " The columns are separated by semicolons (a spreadsheet's regional CSV "
                "export): save the file as CSV with commas (UTF-8)."
            )
        raise LoadRefused(
            f"The file is not a consent CSV: {'; '.join(problems)}. The header must be: "
            f"{HEADER}.{hint}"
        )
    return {name: index for index, name in enumerate(names)}


def _short(text: str, limit: int = 40) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "…")


def _fast_email(raw: str) -> str | None:
    """The stored form of an ordinary email (what `normalize_address` gives), or None: take the
    full path, which also words the error."""
    fast = simple_email(raw.strip())
    return None if fast is None else fast.lower()


def validation_messages(exc: ValidationError) -> str:
    return " ".join(exc.messages)


def to_micros(moment: datetime) -> int:
    return (moment - EARLIEST) // ONE_MICROSECOND


def from_micros(micros: int) -> datetime:
    return EARLIEST + micros * ONE_MICROSECOND


class LoadCatalog:
    """The profile's purposes and topics, looked up by name (exact, else case-insensitive)."""

    def __init__(self, profile: ComplianceProfile):
        # By their base (English) names, whatever language the request running the load is in.
        with translation.override(settings.MODELTRANSLATION_DEFAULT_LANGUAGE):
            purposes = list(profile.purposes.all())
            self.purposes = _by_name(purposes)
            self.topics: dict[int, dict[str, object]] = {}
            for purpose in purposes:
                self.topics[purpose.pk] = _by_name(list(purpose.topics.all()))
        self.profile = profile

    def purpose(self, name: str):
        return _find(self.purposes, name)

    def topic(self, purpose_id: int, name: str):
        return _find(self.topics.get(purpose_id, {}), name)


def _by_name(objects: list) -> dict[str, object]:
    found: dict[str, object] = {}
    folded: dict[str, list] = {}
    for obj in objects:
        found[obj.name] = obj
        folded.setdefault(obj.name.casefold(), []).append(obj)
    for key, matches in folded.items():
        if len(matches) == 1:
            found.setdefault(key, matches[0])
    return found


def _find(objects: dict[str, object], name: str):
    return objects.get(name) or objects.get(name.casefold())


class RowValidator:
    """A CSV record → a staged row, or the list of (column, message) problems.

    `_checked` is the rule; `_fast` is the same rule for the rows that look like the ones
    already seen (the column spellings `_checked` accepted are remembered), about ten times
    cheaper per row. Anything new or doubtful goes through `_checked`.
    """

    MEMO_MAX = 1000  # remembered spellings per column (accepted ones only)

    def __init__(self, catalog: LoadCatalog, columns: dict[str, int], now: datetime):
        self.catalog = catalog
        self.width = len(columns)
        # A missing optional column reads the "" appended to every record.
        self.pick = operator.itemgetter(*(columns.get(name, self.width) for name in COLUMNS))
        self.now_us = to_micros(now)
        self.latest_us = to_micros(now + FUTURE_TOLERANCE)
        self.memo: dict[str, dict] = {
            name: {} for name in ("channel", "purpose", "topic", "status", "source")
        }
        # The same dicts, bound once: `_fast` reads five of them per row.
        self.channels, self.purposes, self.topics, self.statuses, self.sources = self.memo.values()
        self.address_hash = address_hasher()

    def __call__(self, record: list[str], line: int) -> tuple[StagedRow | None, list]:
        if len(record) != self.width:
            return None, [("", f"Expected {self.width} values, found {len(record)}.")]
        record.append("")
        fields = self.pick(record)
        row = self._fast(fields, line)
        return (row, []) if row is not None else self._checked(fields, line)

    def _fast(self, fields: tuple[str, ...], line: int) -> StagedRow | None:
        channel, raw_value, purpose, topic, status, source, reason, captured, requested_by = fields
        try:
            channel = self.channels[channel]
            purpose_id = self.purposes[purpose]
            topic_id = self.topics[(purpose_id, topic)]
            status, source = self.statuses[status], self.sources[source]
        except KeyError:
            return None
        reason, requested_by = reason.strip(), requested_by.strip()
        if len(reason) > REASON_MAX or len(requested_by) > REQUESTED_BY_MAX:
            return None
        moment = self._moment(captured)
        value = _fast_email(raw_value) if channel == EMAIL else None
        if moment is None or value is None:
            return None
        value_hash = self.address_hash(value)  # any status: a suppressed address gets nothing
        row = (line, channel, value, value_hash, purpose_id, topic_id, status, source, reason)
        return (*row, requested_by, *moment)

    def _moment(self, raw: str) -> tuple[int, bool] | None:
        raw = raw.strip()
        if not raw:
            return self.now_us, False
        try:
            moment = datetime.fromisoformat(raw)
            micros = to_micros(moment if moment.tzinfo else moment.replace(tzinfo=UTC))
        except (ValueError, OverflowError):
            return None
        return (micros, True) if 0 <= micros <= self.latest_us else None

    def _remember(self, column: str, raw, accepted) -> None:
        if len(self.memo[column]) < self.MEMO_MAX:
            self.memo[column][raw] = accepted

    def _checked(self, fields: tuple[str, ...], line: int) -> tuple[StagedRow | None, list]:
        channel, raw_value, purpose, topic, status, source, reason, captured, requested_by = fields
        problems: list[tuple[str, str]] = []
        channel_code = self._channel(channel, problems)
        value = self._value(channel_code, raw_value, problems)
        purpose_obj = self._purpose(purpose, problems)
        topic_id = self._topic(purpose_obj, topic, problems)
        status = self._choice("status", status, STATUSES, problems, default=None)
        source = self._choice("source", source, SOURCES, problems, default=LOADED)
        reason = self._text("reason", reason, problems)
        requested_by = self._text("requested_by", requested_by, problems)
        captured_us, given = self._captured_at(captured, problems)
        if problems:
            return None, problems
        value_hash = self.address_hash(value)  # any status: a suppressed address gets nothing
        row = (line, channel_code, value, value_hash, purpose_obj.pk, topic_id, status, source)
        return (*row, reason, requested_by, captured_us, given), []

    def _channel(self, raw: str, problems: list) -> str | None:
        code = raw.strip().lower()
        if code not in CHANNELS:
            problems.append(("channel", f"Enter one of {', '.join(Channel.values)}."))
            return None
        self._remember("channel", raw, code)
        return code

    def _value(self, channel: str | None, raw: str, problems: list) -> str | None:
        if channel is None:
            return None
        try:
            return normalize_address(channel, raw)
        except ValidationError as exc:
            problems.append(("value", validation_messages(exc)))
            return None

    def _purpose(self, raw: str, problems: list) -> Purpose | None:
        name = raw.strip()
        purpose = self.catalog.purpose(name) if name else None
        if purpose is None:
            message = "Name a purpose." if not name else f"Unknown purpose {_short(name)}"
            problems.append(("purpose", f"{message} (profile {self.catalog.profile.name})."))
        else:
            self._remember("purpose", raw, purpose.pk)
        return purpose

    def _topic(self, purpose: Purpose | None, raw: str, problems: list) -> int | None:
        name = raw.strip()
        if purpose is None:
            return None
        topic = self.catalog.topic(purpose.pk, name) if name else None
        if name and topic is None:
            problems.append(("topic", f"Unknown topic {_short(name)} of purpose {purpose.name}."))
            return None
        topic_id = topic.pk if topic else None
        self._remember("topic", (purpose.pk, raw), topic_id)
        return topic_id

    def _choice(self, column, raw, allowed, problems, *, default) -> str | None:
        code = raw.strip().lower()
        if not code and default is not None:
            code = default
        if code not in allowed:
            problems.append((column, f"Enter one of {', '.join(sorted(allowed))}."))
        else:
            self._remember(column, raw, code)
        return code

    def _text(self, column: str, raw: str, problems: list) -> str:
        text = raw.strip()
        if len(text) > FIELD_MAX[column]:
            problems.append((column, f"At most {FIELD_MAX[column]} characters."))
        return text

    def _captured_at(self, raw: str, problems: list) -> tuple[int | None, bool]:
        raw = raw.strip()
        if not raw:
            return self.now_us, False
        try:
            moment = datetime.fromisoformat(raw)
        except ValueError:
            problems.append(("captured_at", "Enter an ISO 8601 date and time."))
            return None, True
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)  # naive times are UTC
        try:
            micros = to_micros(moment)
        except OverflowError:
            problems.append(("captured_at", "Enter a valid date and time."))
            return None, True
        if micros < 0:
            problems.append(("captured_at", "Enter a date and time after 1970."))
        elif micros > self.latest_us:
            problems.append(("captured_at", "A consent cannot be captured in the future."))
        return micros, True
