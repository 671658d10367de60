"""Consent load (DESIGN §3.8): bulk import of contact-point consent, and the migration mode.

One code path for `manage.py load_consent`, the admin and the API:

* `consent_load_create` stores the load and its file (in chunks, see consent.models.load) and
  dispatches the Celery job after commit; `consent_load_confirm` turns an admin preview into a
  real load; `consent_load_run` is the job's body.
* A run streams rows — from the CSV file, or in migration mode from the subjects and the
  subscriptions higher apps register (`register_migration_source`) — through one validator
  into a staging table (PostgreSQL: COPY into a temp table), then classifies every row in
  one set-based query (`_PLAN_SQL`: in-file duplicates, suppressed opt-ins, stale,
  unchanged, new opt-ins / opt-outs / other changes) and, unless it is a dry run or a refused
  `reject` load, writes in one transaction: on PostgreSQL, per partial unique constraint, one
  plain INSERT of the new records and one INSERT … ON CONFLICT of the others (or of all, when
  someone created one of the "new" records meanwhile), each statement's RETURNING feeding the
  INSERT of the history rows; elsewhere batched ORM bulk operations with `bulk_history_create`.
  Both backends share the staging table and the classification query, so they report and write
  the same thing. The phases' durations are logged at INFO (`consent.loads`).

Every written record gets a history row: the row's source (`loaded` by default), the loading
user as `history_user`, the file name as the change reason. `captured_by` stays empty: the
consent was captured outside this system (the row's `source` and `requested_by` say how); the
loading user is on the history row. `notice_version` stays empty too: a load cannot know which
notice the customer saw, and the current one would be false evidence (GDPR Art. 7(1)).

PostgreSQL note: staging happens outside the write transaction (so progress is visible) in a
session temp table, which needs a session-level connection (no transaction-mode pooler).
"""

import codecs
import csv
import logging
import operator
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from consent.contact_points import (
    address_hasher,
    field_error,
    normalize_address,
    normalized_address_hash,
)
from consent.models import (
    Channel,
    ComplianceProfile,
    ConsentLoad,
    ConsentLoadChunk,
    ContactPointConsent,
    Purpose,
    Suppression,
)
from consent.models.load import CHUNK_SIZE, COUNT_NAMES
from subjects.audit import Source, history_insert_sql
from subjects.models import Contact, Lead
from subjects.normalize import simple_email

logger = logging.getLogger(__name__)

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
MAX_FILE_BYTES = getattr(settings, "CONSENT_LOAD_MAX_BYTES", 512 * 1024 * 1024)
MAX_LINE_CHARS = 64 * 1024  # a real row is under 1,500 characters
MAX_ROW_ERRORS = 1000  # stored per load; the total is counted
BATCH_ROWS = 20_000  # rows per staging batch (and per progress update)
TEMP_BUFFERS = "256MB"  # PostgreSQL: the session's temp buffers for the staging tables
ORM_BATCH = 500  # rows per ORM write batch (SQLite's variable limit, memory)
FUTURE_TOLERANCE = timedelta(minutes=5)  # clock skew between the source system and us
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
ONE_MICROSECOND = timedelta(microseconds=1)
PREVIEW_TTL = timedelta(days=1)  # an admin preview keeps its file this long for the confirm
FIELD_MAX = {"reason": 200, "requested_by": 200}
MIGRATION_REASON = "migration from subject preferences and subscription lists"
PREFERENCES_REASON = "migrated from subject preferences"
LIST_REASON = "migrated from subscription list membership"
# Plain strings (not enum members): they are compared and serialized a million times.
STATUSES = frozenset(str(code) for code in Status.values)
SOURCES = frozenset(str(code) for code in Source.values)
CHANNELS = frozenset(str(code) for code in Channel.values)
LOADED = str(Source.LOADED)
EMAIL = str(Channel.EMAIL)
WRITE_OUTCOMES = ("opt_in", "opt_out", "other_change")
OUTCOME_COUNTS = {
    "opt_in": "opt_ins",
    "opt_out": "opt_outs",
    "other_change": "other_changes",
    "unchanged": "unchanged",
    "stale": "stale",
    "duplicate": "duplicates",
    "suppressed": "suppressed",
}
SUPPRESSED_NOTE = (
    "This address is suppressed (its owner was erased after opting out): a load never opts it in."
)


BINARY_MESSAGE = (
    "The file is binary or UTF-16, not UTF-8 CSV text. Save it as “CSV UTF-8” and upload it again."
)


class LoadRefused(Exception):
    """The whole file is refused (not CSV, not UTF-8, binary, wrong header …): one message."""


# A staged row: (line, channel, value, value_hash, purpose_id, topic_id, status, source, reason,
# requested_by, captured_us, captured_given). `captured_us` is microseconds since the epoch
# (exact on both backends); `value_hash` is only computed for opt-ins (suppression check).
StagedRow = tuple


# ---------------------------------------------------------------------------------------------
# Creating, confirming and running a load (the services)


@transaction.atomic
def consent_load_create(
    *,
    profile: ComplianceProfile | None = None,
    file=None,
    file_name: str = "",
    mode: str = ConsentLoad.Mode.REJECT,
    dry_run: bool = False,
    from_subjects: bool = False,
    user=None,
    dispatch: bool = True,
) -> ConsentLoad:
    """Store a load and its file, then run it as a Celery job once the transaction commits.

    `file` is bytes or a file object (an upload streams in chunks). A file that cannot be a
    consent CSV (empty, binary, not UTF-8, wrong header, too big) is refused here with a
    `file` field error. `dispatch=False` leaves the run to the caller (the command runs it
    in-process).
    """
    if mode not in ConsentLoad.Mode.values:
        raise field_error("mode", f"Choose {' or '.join(ConsentLoad.Mode.values)}.")
    if from_subjects and file is not None:
        raise field_error("file", "Migration mode builds its rows from the subjects: no file.")
    if not from_subjects and file is None:
        raise field_error("file", "Upload a CSV file.", "required")
    load = ConsentLoad.objects.create(
        profile=profile or ComplianceProfile.objects.default(),
        file_name=(file_name or getattr(file, "name", "") or "")[:255],
        mode=mode,
        dry_run=dry_run,
        from_subjects=from_subjects,
        created_by=_user_or_none(user),
    )
    if file is not None:
        _store_file(load, file)
    consent_load_files_purge()
    if dispatch:
        _dispatch(load)
    return load


@transaction.atomic
def consent_load_confirm(*, preview: ConsentLoad, user=None, dispatch: bool = True) -> ConsentLoad:
    """Run a previewed dry run for real: a new load that takes over the preview's file."""
    preview = ConsentLoad.objects.select_for_update().get(pk=preview.pk)
    if not preview.can_confirm:
        raise ValidationError(
            "This preview cannot be confirmed: it is not a finished dry run, it was confirmed "
            "already, its file has expired, or it has invalid rows in mode reject.",
            code="invalid_state",
        )
    load = ConsentLoad.objects.create(
        profile=preview.profile,
        file_name=preview.file_name,
        file_size=preview.file_size,
        mode=preview.mode,
        from_subjects=preview.from_subjects,
        rows_total=preview.counts.get("rows", preview.rows_total),
        preview=preview,
        created_by=_user_or_none(user),
    )
    ConsentLoadChunk.objects.filter(load=preview).update(load=load)
    if dispatch:
        _dispatch(load)
    return load


def consent_load_files_purge(*, now: datetime | None = None) -> int:
    """Delete the files of previews nobody confirmed within PREVIEW_TTL (they hold addresses)."""
    cutoff = (now or timezone.now()) - PREVIEW_TTL
    deleted, _ = ConsentLoadChunk.objects.filter(
        load__status=ConsentLoad.Status.PREVIEWED, load__finished_at__lt=cutoff
    ).delete()
    return deleted


def consent_load_run(*, load: ConsentLoad) -> ConsentLoad:
    """The job: validate, classify and (unless a dry run or refused) write. Idempotent: a load
    that already finished is left alone, and a run that died wrote nothing (one transaction)."""
    load = _start(load)
    if load.status != ConsentLoad.Status.RUNNING:
        return load
    run = _Run(load)
    try:
        run.execute()
    except LoadRefused as exc:
        return _finish(load, ConsentLoad.Status.FAILED, run.report, message=str(exc))
    except Exception:
        logger.exception("consent load %s failed", load.pk)
        _finish_after_error(load, run.report)
        raise
    phases = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in run.phases.items())
    logger.info("consent load %s: %s (%s)", load.pk, load.status, phases, extra={"phases": phases})
    return load


def _dispatch(load: ConsentLoad) -> None:
    from consent.tasks import run_consent_load  # the task module imports this one

    run_consent_load.delay_on_commit(load.pk)


def _user_or_none(user):
    return user if user is not None and user.is_authenticated else None


def _start(load: ConsentLoad) -> ConsentLoad:
    with transaction.atomic():
        load = ConsentLoad.objects.select_for_update().get(pk=load.pk)
        if load.is_finished:
            return load  # a redelivered job for a load that already finished
        load.status = ConsentLoad.Status.RUNNING
        load.started_at = timezone.now()
        load.rows_processed = 0
        load.save(update_fields=["status", "started_at", "rows_processed"])
    return load


def _finish_after_error(load: ConsentLoad, report: "_Report") -> None:
    try:
        _finish(
            load,
            ConsentLoad.Status.FAILED,
            report,
            message="The load stopped on an unexpected error; nothing was written.",
        )
    except Exception:  # e.g. the connection is gone: the job's own error is what matters
        logger.exception("could not mark consent load %s as failed", load.pk)


def _finish(load: ConsentLoad, status: str, report: "_Report", message: str = "") -> ConsentLoad:
    load.status = status
    load.message = message
    load.counts = report.counts()
    load.row_errors = report.entries()
    load.row_errors_total = report.entries_total
    load.rows_total = load.rows_processed = report.rows
    load.finished_at = timezone.now()
    load.save()
    keep_file = status == ConsentLoad.Status.PREVIEWED
    if not keep_file:
        load.chunks.all().delete()  # the file held addresses: keep no copy once it is done
    return load


# ---------------------------------------------------------------------------------------------
# The report: counts and row errors (capped)


@dataclass
class _Report:
    rows: int = 0
    invalid: int = 0
    outcome_counts: dict[str, int] = field(default_factory=dict)
    written: int = 0
    errors: list[dict] = field(default_factory=list)  # invalid rows, at most MAX_ROW_ERRORS
    error_entries: int = 0
    notes: list[dict] = field(default_factory=list)  # duplicates / suppressed (from the plan)

    def invalid_row(self, line: int | None, problems: list[tuple[str, str]]) -> None:
        self.invalid += 1
        for column, message in problems:
            self.error_entries += 1
            if len(self.errors) < MAX_ROW_ERRORS:
                self.errors.append(_entry(line, column, message, "invalid"))

    @property
    def entries_total(self) -> int:
        notes = self.outcome_counts.get("duplicate", 0) + self.outcome_counts.get("suppressed", 0)
        return self.error_entries + notes

    def entries(self) -> list[dict]:
        merged = sorted(self.errors + self.notes, key=lambda e: (e["line"] or 0, e["kind"]))
        return merged[:MAX_ROW_ERRORS]

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(COUNT_NAMES, 0)
        for outcome, number in self.outcome_counts.items():
            counts[OUTCOME_COUNTS[outcome]] += number
        counts.update(rows=self.rows, invalid=self.invalid, written=self.written)
        return counts


def _entry(line: int | None, column: str, message: str, kind: str) -> dict:
    return {"line": line, "column": column, "message": message, "kind": kind}


# ---------------------------------------------------------------------------------------------
# Storing the file, and checking its head at upload


def _store_file(load: ConsentLoad, file) -> None:
    size = lines = 0
    head_checked = False
    for number, chunk in enumerate(_file_chunks(file)):
        size += len(chunk)
        if size > MAX_FILE_BYTES:
            raise field_error("file", f"The file is larger than {MAX_FILE_BYTES // 2**20} MB.")
        if not head_checked:
            _check_head(chunk, whole=len(chunk) < CHUNK_SIZE)
            head_checked = True
        lines += chunk.count(b"\n")
        _insert_chunk(load, number, chunk)
    if size == 0:
        raise field_error("file", "The file is empty.")
    load.file_size = size
    load.rows_total = max(lines - 1, 0) if chunk.endswith(b"\n") else lines  # header excluded
    load.save(update_fields=["file_size", "rows_total"])


def _insert_chunk(load: ConsentLoad, number: int, data: bytes) -> None:
    """Through the driver's cursor: Django's debug cursor (DEBUG=true) would keep the text of
    the query, a megabyte of escaped bytes per chunk, in `connection.queries`."""
    table = ConsentLoadChunk._meta.db_table
    with connection.cursor() as cursor:
        cursor.cursor.execute(
            f"INSERT INTO {table} (load_id, number, data) VALUES (%s, %s, %s)",
            [load.pk, number, data],
        )


def _file_chunks(file) -> Iterator[bytes]:
    if isinstance(file, bytes | bytearray | memoryview):
        data = bytes(file)
        for start in range(0, len(data), CHUNK_SIZE):
            yield data[start : start + CHUNK_SIZE]
        return
    if hasattr(file, "seek"):
        file.seek(0)
    pending = b""
    while block := file.read(CHUNK_SIZE):
        pending += block
        while len(pending) >= CHUNK_SIZE:
            yield pending[:CHUNK_SIZE]
            pending = pending[CHUNK_SIZE:]
    if pending:
        yield pending


def _check_head(chunk: bytes, *, whole: bool) -> None:
    """Refuse at upload what is plainly not a consent CSV (the run checks the rest)."""
    try:
        lines = _TextLines([chunk], final=whole)
        header = next(csv.reader(lines, strict=True), None)
        _columns(header)
    except (LoadRefused, csv.Error) as exc:
        raise field_error("file", _refusal_text(exc)) from exc


def _refusal_text(exc: Exception) -> str:
    if isinstance(exc, csv.Error):
        return f"The file is not valid CSV ({exc})."
    return str(exc)


# ---------------------------------------------------------------------------------------------
# Reading: stored chunks → UTF-8 lines → CSV records


def _stored_chunks(load: ConsentLoad) -> Iterator[bytes]:
    """The file, one chunk (one query) at a time: memory stays at one chunk."""
    numbers = list(load.chunks.order_by("number").values_list("number", flat=True))
    for number in numbers:
        data = ConsentLoadChunk.objects.filter(load=load, number=number).values_list(
            "data", flat=True
        )
        yield bytes(data.get())


class _TextLines:
    """UTF-8 (BOM or not) lines, LF or CRLF, each at most MAX_LINE_CHARS; refuses binary.

    `final=False` reads only the complete lines of a file's beginning (the upload check).
    """

    def __init__(self, chunks: Iterable[bytes], *, final: bool = True):
        self.chunks = chunks
        self.final = final
        self.lines_read = 0

    def __iter__(self) -> Iterator[str]:
        decoder = codecs.getincrementaldecoder("utf-8-sig")()
        pending = ""
        for chunk in self.chunks:
            parts = (pending + self._decode(decoder, chunk)).split("\n")
            pending = parts.pop()
            self._check_lengths(parts, pending)
            for part in parts:
                self.lines_read += 1
                yield part + "\n"
        if self.final:
            pending += self._decode(decoder, b"", final=True)
            if pending:
                self.lines_read += 1
                yield pending

    def _decode(self, decoder, chunk: bytes, final: bool = False) -> str:
        try:
            text = decoder.decode(chunk, final)
        except UnicodeDecodeError:
            if b"\x00" in chunk:
                raise LoadRefused(BINARY_MESSAGE) from None
            raise LoadRefused(
                f"The file is not UTF-8 text (an invalid byte after line {self.lines_read}). "
                "Save it as “CSV UTF-8” and upload it again."
            ) from None
        if "\x00" in text:
            raise LoadRefused(BINARY_MESSAGE)
        return text

    def _check_lengths(self, parts: list[str], pending: str) -> None:
        longest = max(map(len, parts), default=0)
        if max(longest, len(pending)) > MAX_LINE_CHARS:
            raise LoadRefused(
                f"Line {self.lines_read + 1} or a nearby one is longer than {MAX_LINE_CHARS:,} "
                "characters: this is not a consent CSV."
            )


def _columns(header: list[str] | None) -> dict[str, int]:
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
        raise LoadRefused(
            f"The file is not a consent CSV: {'; '.join(problems)}. The header must be: {HEADER}"
        )
    return {name: index for index, name in enumerate(names)}


def _short(text: str, limit: int = 40) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "…")


# ---------------------------------------------------------------------------------------------
# Validation of one row


def _fast_email(raw: str) -> str | None:
    """The stored form of an ordinary email (what `normalize_address` gives), or None: take the
    full path, which also words the error."""
    fast = simple_email(raw.strip())
    return None if fast is None else fast.lower()


def _validation_messages(exc: ValidationError) -> str:
    return " ".join(exc.messages)


def _micros(moment: datetime) -> int:
    return (moment - EARLIEST) // ONE_MICROSECOND


def _from_micros(micros: int) -> datetime:
    return EARLIEST + micros * ONE_MICROSECOND


class _Catalog:
    """The profile's purposes and topics, looked up by name (exact, else case-insensitive)."""

    def __init__(self, profile: ComplianceProfile):
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


class _RowValidator:
    """A CSV record → a staged row, or the list of (column, message) problems.

    `_checked` is the rule; `_fast` is the same rule for the rows that look like the ones
    already seen (the column spellings `_checked` accepted are remembered), about ten times
    cheaper per row. Anything new or doubtful goes through `_checked`.
    """

    MEMO_MAX = 1000  # remembered spellings per column (accepted ones only)

    def __init__(self, catalog: _Catalog, columns: dict[str, int], now: datetime):
        self.catalog = catalog
        self.width = len(columns)
        # A missing optional column reads the "" appended to every record.
        self.pick = operator.itemgetter(*(columns.get(name, self.width) for name in COLUMNS))
        self.now_us = _micros(now)
        self.latest_us = _micros(now + FUTURE_TOLERANCE)
        self.memo: dict[str, dict] = {name: {} for name in ("channel", "purpose", "topic")}
        self.memo.update(status={}, source={})
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
        memo = self.memo
        try:
            channel = memo["channel"][channel]
            purpose_id = memo["purpose"][purpose]
            topic_id = memo["topic"][(purpose_id, topic)]
            status, source = memo["status"][status], memo["source"][source]
        except KeyError:
            return None
        reason, requested_by = reason.strip(), requested_by.strip()
        if len(reason) > FIELD_MAX["reason"] or len(requested_by) > FIELD_MAX["requested_by"]:
            return None
        moment = self._moment(captured)
        value = _fast_email(raw_value) if channel == Channel.EMAIL else None
        if moment is None or value is None:
            return None
        value_hash = self.address_hash(value) if status == Status.OPTED_IN else None
        row = (line, channel, value, value_hash, purpose_id, topic_id, status, source, reason)
        return (*row, requested_by, *moment)

    def _moment(self, raw: str) -> tuple[int, bool] | None:
        raw = raw.strip()
        if not raw:
            return self.now_us, False
        try:
            moment = datetime.fromisoformat(raw)
            micros = _micros(moment if moment.tzinfo else moment.replace(tzinfo=UTC))
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
        value_hash = self.address_hash(value) if status == Status.OPTED_IN else None
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
            problems.append(("value", _validation_messages(exc)))
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
            micros = _micros(moment)
        except OverflowError:
            problems.append(("captured_at", "Enter a valid date and time."))
            return None, True
        if micros < 0:
            problems.append(("captured_at", "Enter a date and time after 1970."))
        elif micros > self.latest_us:
            problems.append(("captured_at", "A consent cannot be captured in the future."))
        return micros, True


# ---------------------------------------------------------------------------------------------
# Row sources: the CSV file, or the subjects (migration mode)


def _file_rows(load: ConsentLoad, report: _Report, now: datetime) -> Iterator[StagedRow]:
    lines = _TextLines(_stored_chunks(load))
    reader = csv.reader(lines, strict=True)
    try:
        validate = _RowValidator(_Catalog(load.profile), _columns(next(reader, None)), now)
        for record in reader:
            if not record:
                continue  # blank line
            report.rows += 1
            row, problems = validate(record, reader.line_num)
            if problems:
                report.invalid_row(reader.line_num, problems)
            else:
                yield row
    except csv.Error as exc:
        raise LoadRefused(f"Line {reader.line_num} is not valid CSV ({exc}).") from None


# Which subject preferences each purpose kind reads: a commercial email opt-in needs allow_email
# AND allow_bulk_email on every non-anonymized subject with the address (DESIGN §3.8); where any
# of them forbids it, the migration records an explicit opt-out — the CRM flag was a refusal,
# and an opt-out is what makes every later send check (§3.4 rule 7) honour it.
_KIND_ALLOWS = {
    Purpose.Kind.COMMERCIAL: "agg.e = 1 AND agg.b = 1",
    Purpose.Kind.TRANSACTIONAL: "agg.e = 1",
    Purpose.Kind.TRACKING: "COALESCE(agg.t, 1) = 1",  # contacts only; no contact: no gate
}


def _subject_aggregates_sql() -> str:
    """Per lower-cased email: every subject allows email / bulk email / tracking (contacts
    only), the latest preference change, and one lead and contact id (for error messages)."""
    branches = []
    for model in (Lead, Contact):
        is_lead = model is Lead
        tracking = "NULL" if is_lead else "CASE WHEN allow_tracking THEN 1 ELSE 0 END"
        branches.append(
            "SELECT LOWER(email) AS k, CASE WHEN allow_email THEN 1 ELSE 0 END AS e, "
            "CASE WHEN allow_bulk_email THEN 1 ELSE 0 END AS b, "
            f"CAST({tracking} AS INTEGER) AS t, updated_at AS u, "
            f"CAST({'id' if is_lead else 'NULL'} AS BIGINT) AS lead_id, "
            f"CAST({'NULL' if is_lead else 'id'} AS BIGINT) AS contact_id "
            f"FROM {model._meta.db_table} WHERE anonymized_at IS NULL AND email IS NOT NULL "
            "AND email <> ''"
        )
    return (
        "SELECT k, MIN(e) AS e, MIN(b) AS b, MIN(t) AS t, MAX(u) AS u, MIN(lead_id) AS lead_id, "
        f"MIN(contact_id) AS contact_id FROM ({' UNION ALL '.join(branches)}) s GROUP BY k"
    )


# Subscriptions from the apps above consent (DESIGN §2: consent never imports them).
MigrationSource = Callable[[], str]
_MIGRATION_SOURCES: list[MigrationSource] = []


def register_migration_source(source: MigrationSource) -> MigrationSource:
    """Add the subscriptions an app above consent holds to the migration mode.

    consent cannot read the apps that build on it, so an app that holds subscriptions (the
    subscription lists, for one) registers here, from its `AppConfig.ready()`, a function
    returning the SQL of its subscriptions, without parameters:
    `SELECT email_key, purpose_id, topic_id, joined_at`, one row per subscribed person:
    `email_key` the person's lower-cased email, `joined_at` when they subscribed.
    The rule stays in the load (`_subscriptions_sql`): which rows become opt-ins, gated by the
    subjects' preferences in the same query. Registering a source twice adds it once.
    """
    if source not in _MIGRATION_SOURCES:
        _MIGRATION_SOURCES.append(source)
    return source


def _subscriptions_sql() -> str | None:
    """Per (address, purpose, topic) of the load's profile in the registered sources, with a
    topic: the latest time one of its people subscribed, where every subject with the address
    allows the purpose's kind (the gate of the preferences). Purpose-level subscriptions add
    nothing: every address with a subject already gets a purpose record from its preferences,
    by the same gate."""
    if not _MIGRATION_SOURCES:
        return None
    sources = " UNION ALL ".join(
        f"SELECT email_key AS k, purpose_id, topic_id, joined_at FROM ({source()}) s{number}"
        for number, source in enumerate(_MIGRATION_SOURCES)
    )
    purpose = Purpose._meta.db_table
    gate = " ".join(f"WHEN '{kind}' THEN ({sql})" for kind, sql in _KIND_ALLOWS.items())
    return (
        f"WITH agg AS ({_subject_aggregates_sql()}) "
        f"SELECT x.k, x.purpose_id, x.topic_id, MAX(x.joined_at) AS added_at "
        f"FROM ({sources}) x "
        f"JOIN {purpose} pu ON pu.id = x.purpose_id JOIN agg ON agg.k = x.k "
        f"WHERE x.topic_id IS NOT NULL "
        f"AND pu.profile_id = %s AND x.k IS NOT NULL AND x.k <> '' "
        f"AND CASE pu.kind {gate} ELSE 0 = 1 END "
        f"GROUP BY x.k, x.purpose_id, x.topic_id"
    )


def _as_datetime(value) -> datetime:
    if isinstance(value, str):  # SQLite hands computed datetimes back as text
        value = parse_datetime(value)
    return value if timezone.is_aware(value) else value.replace(tzinfo=UTC)


def _subject_rows(load: ConsentLoad, report: _Report, now: datetime) -> Iterator[StagedRow]:
    """Migration mode: rows from the subjects' preferences and subscription lists, streamed
    from two grouped queries (never one query per subject)."""
    purposes = list(load.profile.purposes.all())
    line = 0
    with connection.chunked_cursor() as cursor:
        cursor.execute(_subject_aggregates_sql())
        while batch := cursor.fetchmany(BATCH_ROWS):
            for key, e, b, t, changed, lead_id, contact_id in batch:
                value = _migration_value(key, lead_id, contact_id, report)
                if value is None:
                    continue
                allows = {"e": e, "b": b, "t": t}
                for purpose in purposes:
                    status = _preference_status(purpose.kind, allows)
                    if status is None:
                        continue
                    line += 1
                    report.rows += 1
                    yield _migration_row(
                        line, value, purpose.pk, None, status, PREFERENCES_REASON, changed
                    )
    sql = _subscriptions_sql()
    if sql is None:
        return
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, [load.profile_id])
        while batch := cursor.fetchmany(BATCH_ROWS):
            for key, purpose_id, topic_id, added_at in batch:
                value = _migration_value(key, None, None, report, count=False)
                if value is None:
                    continue
                line += 1
                report.rows += 1
                yield _migration_row(
                    line, value, purpose_id, topic_id, Status.OPTED_IN, LIST_REASON, added_at
                )


def _preference_status(kind: str, allows: dict) -> str | None:
    if kind == Purpose.Kind.COMMERCIAL:
        allowed = allows["e"] == 1 and allows["b"] == 1
    elif kind == Purpose.Kind.TRANSACTIONAL:
        allowed = allows["e"] == 1
    elif allows["t"] is None:
        return None  # tracking reads contacts only; leads alone say nothing
    else:
        allowed = allows["t"] == 1
    return Status.OPTED_IN if allowed else Status.OPTED_OUT


def _migration_value(key, lead_id, contact_id, report: _Report, count=True) -> str | None:
    try:
        return normalize_address(Channel.EMAIL, key)
    except ValidationError as exc:
        if count:
            report.rows += 1
            holder = f"Lead {lead_id}" if lead_id else f"Contact {contact_id}"
            report.invalid_row(None, [("value", f"{holder}: {_validation_messages(exc)}")])
        return None


def _migration_row(line, value, purpose_id, topic_id, status, reason, captured) -> StagedRow:
    value_hash = normalized_address_hash(value) if status == Status.OPTED_IN else None
    captured_us = _micros(_as_datetime(captured))
    return (
        *(line, EMAIL, value, value_hash, purpose_id, topic_id, str(status)),
        *(LOADED, reason, "", captured_us, True),
    )


# ---------------------------------------------------------------------------------------------
# Staging and classification (SQL shared by both backends)

STAGE = "consent_load_stage"
PLAN = "consent_load_plan"
_STAGE_COLUMNS = (
    "line INTEGER NOT NULL, channel VARCHAR(6) NOT NULL, value VARCHAR(254) NOT NULL, "
    "value_hash VARCHAR(64), purpose_id BIGINT NOT NULL, topic_id BIGINT, "
    "status VARCHAR(9) NOT NULL, source VARCHAR(32) NOT NULL, reason VARCHAR(200) NOT NULL, "
    "requested_by VARCHAR(200) NOT NULL, captured_us BIGINT NOT NULL, "
    "captured_given BOOLEAN NOT NULL"
)
# Evidence a load writes besides the row's own columns (see the module docstring).
_LOADED_EVIDENCE = (
    "c.reason_description = '' AND c.captured_by_id IS NULL AND c.ip_address IS NULL "
    "AND c.user_agent = '' AND c.notice_version = '' AND c.expires_at IS NULL"
)
# One classification per staged row; the first matching rule wins. Duplicates of a key: the
# latest captured_at wins (the later line on a tie), the others point at the winner's line. A
# suppressed opt-in never wins against a row that can be written (an older opt-out, say).
_PLAN_SQL = f"""
CREATE TEMP TABLE {PLAN} AS
SELECT r.line, r.channel, r.value, r.purpose_id, r.topic_id, r.status, r.source, r.reason,
       r.requested_by, r.captured_us, r.winner_line, c.id AS existing_id,
  CASE
    WHEN r.suppressed = 1 THEN 'suppressed'
    WHEN r.rn > 1 THEN 'duplicate'
    WHEN c.id IS NULL THEN
      CASE r.status WHEN 'opted_in' THEN 'opt_in' WHEN 'opted_out' THEN 'opt_out'
      ELSE 'other_change' END
    WHEN {{captured}} < c.captured_at THEN 'stale'
    WHEN c.status = r.status AND c.source = r.source AND c.reason = r.reason
      AND c.requested_by = r.requested_by AND {_LOADED_EVIDENCE}
      AND (NOT r.captured_given OR {{captured}} = c.captured_at) THEN 'unchanged'
    WHEN r.status = 'opted_in'
      AND (c.status <> 'opted_in' OR c.expires_at <= %(now)s) THEN 'opt_in'
    WHEN r.status = 'opted_out' AND c.status <> 'opted_out' THEN 'opt_out'
    ELSE 'other_change'
  END AS outcome
FROM (
  SELECT s.*, {{ranking}}
  FROM (
    SELECT s.*, CASE WHEN s.status = 'opted_in' AND EXISTS (
      SELECT 1 FROM {Suppression._meta.db_table} x
      WHERE x.channel = s.channel AND x.value_hash = s.value_hash) THEN 1 ELSE 0 END
      AS suppressed
    FROM {STAGE} s
  ) s
  {{window}}
) r
LEFT JOIN {ContactPointConsent._meta.db_table} c
  ON c.channel = r.channel AND c.value = r.value AND c.purpose_id = r.purpose_id
  AND (c.topic_id = r.topic_id OR (c.topic_id IS NULL AND r.topic_id IS NULL))
"""

# The duplicates' ranking; without duplicates in the file (the common case) every row is its
# key's only row, and the sort of a million wide rows the window needs is skipped.
_RANKED = {
    True: (
        "ROW_NUMBER() OVER w AS rn, FIRST_VALUE(s.line) OVER w AS winner_line",
        "WINDOW w AS (PARTITION BY s.channel{binary}, s.value{binary}, s.purpose_id, "
        "s.topic_id ORDER BY s.suppressed, s.captured_us DESC, s.line DESC)",
    ),
    False: ("1 AS rn, s.line AS winner_line", ""),
}
_HAS_DUPLICATES_SQL = (
    f"SELECT EXISTS (SELECT 1 FROM {STAGE} GROUP BY channel, value, purpose_id, topic_id "
    "HAVING COUNT(*) > 1)"
)


def _binary(vendor: str) -> str:
    """Byte-order comparison of text (SQLite compares bytes already)."""
    return ' COLLATE "C"' if vendor == "postgresql" else ""


def _captured_sql(vendor: str, alias: str) -> str:
    """A staged row's moment as the backend stores a DateTimeField, exact to the microsecond."""
    us = f"{alias}.captured_us"
    if vendor == "postgresql":
        return f"(TIMESTAMPTZ 'epoch' + {us} * INTERVAL '1 microsecond')"
    # Django stores SQLite datetimes as str(naive UTC datetime): "YYYY-MM-DD HH:MM:SS[.ffffff]".
    return (
        f"(strftime('%%Y-%%m-%%d %%H:%%M:%%S', {us} / 1000000, 'unixepoch') || "
        f"CASE WHEN {us} %% 1000000 = 0 THEN '' ELSE printf('.%%06d', {us} %% 1000000) END)"
    )


class _Stage:
    """The staging and plan temp tables of one run, on the default connection."""

    def __init__(self, now: datetime):
        self.vendor = connection.vendor
        self.now = now
        self.postgres = self.vendor == "postgresql"

    def __enter__(self) -> "_Stage":
        with connection.cursor() as cursor:
            if self.postgres:
                _temp_buffers(cursor)
            self._drop(cursor)
            cursor.execute(f"CREATE TEMP TABLE {STAGE} ({_STAGE_COLUMNS})")
            if self.postgres:
                # Sorts and hashes of a million rows in memory; no JIT: compiling the plan of
                # these one-off statements costs seconds and saves nothing.
                cursor.execute("SET work_mem = '256MB'")
                cursor.execute("SET jit = off")
        return self

    def __exit__(self, *exc_info) -> None:
        with connection.cursor() as cursor:
            self._drop(cursor)
            if self.postgres:
                cursor.execute("RESET work_mem")
                cursor.execute("RESET jit")

    def _drop(self, cursor) -> None:
        for table in (PLAN, STAGE):
            cursor.execute(f"DROP TABLE IF EXISTS {table}")

    def add(self, rows: list[StagedRow]) -> None:
        with connection.cursor() as cursor:
            if self.postgres:
                self._copy(cursor, rows)
            else:
                marks = ", ".join(["%s"] * 12)
                cursor.executemany(f"INSERT INTO {STAGE} VALUES ({marks})", rows)

    def _copy(self, cursor, rows: list[StagedRow]) -> None:
        out = _Collect()
        csv.writer(out, lineterminator="\n").writerows(rows)
        columns = "channel, value, status, source, reason, requested_by"
        sql = f"COPY {STAGE} FROM STDIN WITH (FORMAT csv, FORCE_NOT_NULL ({columns}))"
        with cursor.cursor.copy(sql) as copy:
            copy.write("".join(out.parts))

    def plan(self) -> None:
        with connection.cursor() as cursor:
            if self.postgres:
                cursor.execute(f"ANALYZE {STAGE}")  # autovacuum never analyzes temp tables
                # Text sorts in the database's collation (strcoll) cost seconds per million
                # rows: group in byte order, and join by hash or index, never by merge.
                cursor.execute("SET enable_mergejoin = off")
            cursor.execute(_HAS_DUPLICATES_SQL)
            ranking, window = _RANKED[bool(cursor.fetchone()[0])]
            binary = _binary(self.vendor)
            sql = _PLAN_SQL.format(
                captured=_captured_sql(self.vendor, "r"),
                ranking=ranking,
                window=window.format(binary=binary),
            )
            cursor.execute(sql, {"now": self._db_datetime(self.now)})
            if self.postgres:
                cursor.execute("RESET enable_mergejoin")

    def outcome_counts(self) -> dict[str, int]:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT outcome, COUNT(*) FROM {PLAN} GROUP BY outcome")
            return dict(cursor.fetchall())

    def notes(self, limit: int, *, lines: bool) -> list[dict]:
        """The first duplicates and suppressed rows, as row-error entries (`lines`: the file's
        line numbers; the rows of the migration mode have none)."""
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT line, outcome, winner_line FROM {PLAN} "
                "WHERE outcome IN ('duplicate', 'suppressed') ORDER BY line LIMIT %s",
                [limit],
            )
            return [_note(*row, lines=lines) for row in cursor.fetchall()]

    def _db_datetime(self, moment: datetime):
        return connection.ops.adapt_datetimefield_value(moment)

    def write(self, *, user_id: int | None, reason: str) -> int:
        writer = _write_postgres if self.postgres else _write_orm
        return writer(self, user_id=user_id, reason=reason)


def _temp_buffers(cursor) -> None:
    """Room for the staging and plan tables (~200 bytes a row each) in the session's temp
    buffers, instead of 8 MB by default. PostgreSQL only accepts it before the session's first
    temp table: a session that ran a load already keeps what it has. The memory is taken as
    the tables grow and stays with the session."""
    try:
        with transaction.atomic():
            cursor.execute(f"SET temp_buffers = '{TEMP_BUFFERS}'")
    except DatabaseError:
        pass


class _Collect:
    def __init__(self):
        self.parts: list[str] = []

    def write(self, text: str) -> None:
        self.parts.append(text)


def _note(line: int, outcome: str, winner_line: int, *, lines: bool) -> dict:
    if outcome == "suppressed":
        return _entry(line if lines else None, "value", SUPPRESSED_NOTE, "suppressed")
    winner = f"line {winner_line}" if lines else "another row"
    return _entry(
        line if lines else None,
        "captured_at",
        f"Duplicate of {winner} (same channel, value, purpose and topic): the row with the "
        "latest captured_at wins.",
        "duplicate",
    )


# ---------------------------------------------------------------------------------------------
# Writing: PostgreSQL, set-based


def _loaded_values() -> dict[str, str]:
    """The SQL value of every ContactPointConsent column a loaded row writes (from plan `p`)."""
    values = {
        "channel": "p.channel",
        "value": "p.value",
        "purpose_id": "p.purpose_id",
        "topic_id": "p.topic_id",
        "status": "p.status",
        "source": "p.source",
        "reason": "p.reason",
        "reason_description": "''",
        "requested_by": "p.requested_by",
        "captured_by_id": "NULL",
        "captured_at": _captured_sql("postgresql", "p"),
        "ip_address": "NULL",
        "user_agent": "''",
        "notice_version": "''",
        "expires_at": "NULL",
        "created_at": "%(now)s",
        "updated_at": "%(now)s",
    }
    columns = {f.column for f in ContactPointConsent._meta.concrete_fields} - {"id"}
    if set(values) != columns:  # a new column must be given a loaded value here
        raise RuntimeError(f"consent load does not know columns {columns ^ set(values)}")
    return values


# The history row of a written record `w` (the write's RETURNING): what `history_insert_sql`
# cannot copy from the record. Date, user and reason are the load's parameters (`_write_postgres`).
_LOADED_HISTORY = {
    "history_type": "CASE WHEN w.created THEN '+' ELSE '~' END",
    "history_source": "w.source",
}


def _history_sql() -> str:
    """`INSERT INTO <history> (…) SELECT … FROM w`: every tracked column from the written row;
    a history column the shared builder has no value for raises."""
    return history_insert_sql(
        ContactPointConsent, rows="w", quote_name=connection.ops.quote_name, values=_LOADED_HISTORY
    )


_KEY_COLUMNS = ("channel", "value", "purpose_id", "topic_id")
_CONFLICT_TARGETS = {
    "IS NULL": "(channel, value, purpose_id) WHERE topic_id IS NULL",
    "IS NOT NULL": "(channel, value, purpose_id, topic_id) WHERE topic_id IS NOT NULL",
}


def _write_sql(topic_test: str, *, new: bool | None) -> str:
    """The records of one partial unique constraint, with their history rows in the same
    statement (the written rows feed the history INSERT).

    `new=True`: the rows the plan found no record for, by a plain INSERT (a unique violation
    means a record was created meanwhile: the caller falls back to the upsert). Otherwise an
    INSERT … ON CONFLICT against the constraint, of the rows that had a record (`new=False`)
    or of all (`new=None`); a row made stale meanwhile is not overwritten.
    """
    values = _loaded_values()
    outcomes = ", ".join(f"'{o}'" for o in WRITE_OUTCOMES)
    existing = {True: "AND p.existing_id IS NULL", False: "AND p.existing_id IS NOT NULL"}
    if new:
        conflict, created = "", "TRUE"
    else:
        updated = [c for c in values if c not in (*_KEY_COLUMNS, "created_at")]
        conflict = (
            f"ON CONFLICT {_CONFLICT_TARGETS[topic_test]} DO UPDATE "
            f"SET {', '.join(f'{c} = EXCLUDED.{c}' for c in updated)} "
            "WHERE c.captured_at <= EXCLUDED.captured_at"
        )
        created = "(c.xmax = 0)"
    return f"""
WITH w AS (
  INSERT INTO {ContactPointConsent._meta.db_table} AS c ({", ".join(values)})
  SELECT {", ".join(values.values())} FROM {PLAN} p
  WHERE p.outcome IN ({outcomes}) AND p.topic_id {topic_test} {existing.get(new, "")}
  ORDER BY p.channel COLLATE "C", p.value COLLATE "C", p.purpose_id, p.topic_id
  {conflict}
  RETURNING c.*, {created} AS created
)
{_history_sql()}
"""


def _write_postgres(stage: _Stage, *, user_id: int | None, reason: str) -> int:
    """New records by plain INSERTs (a speculative ON CONFLICT insertion costs more per row,
    and a large load is mostly new records), the others by upserts."""
    params = {
        "now": stage.now,
        "history_date": stage.now,
        "history_change_reason": reason,
        "history_user_id": user_id,
    }
    written = 0
    with connection.cursor() as cursor:
        for topic_test in _CONFLICT_TARGETS:
            try:
                with transaction.atomic():  # a savepoint: a failed INSERT leaves no trace
                    cursor.execute(_write_sql(topic_test, new=True), params)
                    written += cursor.rowcount
                rest = False
            except IntegrityError:  # a record of a "new" key was created since the plan
                rest = None
            cursor.execute(_write_sql(topic_test, new=rest), params)
            written += cursor.rowcount
    return written


# ---------------------------------------------------------------------------------------------
# Writing: other backends (SQLite), batched ORM bulk operations

_ORM_FIELDS = (
    "status",
    "source",
    "reason",
    "reason_description",
    "requested_by",
    "captured_by",
    "captured_at",
    "ip_address",
    "user_agent",
    "notice_version",
    "expires_at",
    "updated_at",
)


def _write_orm(stage: _Stage, *, user_id: int | None, reason: str) -> int:
    user = _history_user(user_id)
    outcomes = ", ".join(f"'{o}'" for o in WRITE_OUTCOMES)
    written, last_line = 0, -1
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT line, channel, value, purpose_id, topic_id, status, source, reason, "
                f"requested_by, captured_us FROM {PLAN} WHERE outcome IN ({outcomes}) "
                "AND line > %s ORDER BY line LIMIT %s",
                [last_line, ORM_BATCH],
            )
            rows = cursor.fetchall()
        if not rows:
            return written
        last_line = rows[-1][0]
        written += _write_orm_batch(rows, now=stage.now, user=user, reason=reason)


def _history_user(user_id: int | None):
    return None if user_id is None else get_user_model().objects.get(pk=user_id)


def _write_orm_batch(rows: list[tuple], *, now: datetime, user, reason: str) -> int:
    stored = {
        (r.channel, r.value, r.purpose_id, r.topic_id): r
        for r in ContactPointConsent.objects.filter(value__in={row[2] for row in rows})
    }
    created, updated = [], []
    for _line, channel, value, purpose_id, topic_id, *evidence in rows:
        status, source, row_reason, requested_by, captured_us = evidence
        captured_at = _from_micros(captured_us)
        record = stored.get((channel, value, purpose_id, topic_id))
        if record is not None and record.captured_at > captured_at:
            continue  # made stale meanwhile: not overwritten
        if record is None:
            record = ContactPointConsent(
                channel=channel, value=value, purpose_id=purpose_id, topic_id=topic_id
            )
            record.created_at = now
            created.append(record)
        else:
            updated.append(record)
        _set_loaded_evidence(record, status, source, row_reason, requested_by, captured_at, now)
    ContactPointConsent.objects.bulk_create(created, batch_size=ORM_BATCH)
    ContactPointConsent.objects.bulk_update(updated, _ORM_FIELDS, batch_size=ORM_BATCH)
    for records, is_update in ((created, False), (updated, True)):
        _bulk_history(records, update=is_update, user=user, reason=reason, now=now)
    return len(created) + len(updated)


def _set_loaded_evidence(record, status, source, reason, requested_by, captured_at, now) -> None:
    record.status, record.source, record.reason = status, source, reason
    record.reason_description = ""
    record.requested_by = requested_by
    record.captured_by = None
    record.captured_at = captured_at
    record.ip_address = None
    record.user_agent = ""
    record.notice_version = ""
    record.expires_at = None
    record.updated_at = now


def _bulk_history(records: list, *, update: bool, user, reason: str, now: datetime) -> None:
    by_source: dict[str, list] = {}
    for record in records:
        by_source.setdefault(record.source, []).append(record)
    for source, group in by_source.items():
        ContactPointConsent.history.bulk_history_create(
            group,
            batch_size=ORM_BATCH,
            update=update,
            default_user=user,
            default_change_reason=reason,
            default_date=now,
            custom_historical_attrs={"history_source": source},
        )


# ---------------------------------------------------------------------------------------------
# One run


class _Run:
    def __init__(self, load: ConsentLoad):
        self.load = load
        self.report = _Report()
        self.now = timezone.now()
        self.phases: dict[str, float] = {}  # seconds per phase, logged at the end

    def _phase(self, name: str, started: float) -> float:
        now = time.perf_counter()
        self.phases[name] = self.phases.get(name, 0.0) + now - started
        return now

    def execute(self) -> None:
        load = self.load
        with _Stage(self.now) as stage:
            started = time.perf_counter()
            self._fill(stage)
            started = self._phase("read+stage", started)
            stage.plan()
            started = self._phase("plan", started)
            self.report.outcome_counts = stage.outcome_counts()
            self.report.notes = stage.notes(MAX_ROW_ERRORS, lines=not load.from_subjects)
            started = self._phase("report", started)
            if load.dry_run:
                _finish(load, ConsentLoad.Status.PREVIEWED, self.report)
            elif load.mode == ConsentLoad.Mode.REJECT and self.report.invalid:
                _finish(load, ConsentLoad.Status.FAILED, self.report, message=self._rejected())
            else:
                with transaction.atomic():
                    self.report.written = stage.write(
                        user_id=load.created_by_id, reason=self._reason()
                    )
                    started = self._phase("write", started)
                    _finish(load, ConsentLoad.Status.DONE, self.report)
                self._phase("commit", started)

    def _rows(self) -> Iterator[StagedRow]:
        source = _subject_rows if self.load.from_subjects else _file_rows
        return source(self.load, self.report, self.now)

    def _fill(self, stage: _Stage) -> None:
        batch: list[StagedRow] = []
        for row in self._rows():
            batch.append(row)
            if len(batch) >= BATCH_ROWS:
                stage.add(batch)
                batch = []
                self._progress()
        if batch:
            stage.add(batch)
        self._progress()

    def _progress(self) -> None:
        processed = self.report.rows
        total = max(self.load.rows_total, processed)
        ConsentLoad.objects.filter(pk=self.load.pk).update(
            rows_processed=processed, rows_total=total
        )
        self.load.rows_processed, self.load.rows_total = processed, total

    def _reason(self) -> str:
        return MIGRATION_REASON if self.load.from_subjects else self.load.file_name

    def _rejected(self) -> str:
        return (
            f"{self.report.invalid:,} invalid row(s): nothing was written (mode reject). Fix "
            "them, or load in mode skip to write the valid rows."
        )
