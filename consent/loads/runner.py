"""Consent load (DESIGN §3.8): bulk import of contact-point consent, and the migration mode.

One code path for `manage.py load_consent`, the admin and the API:

* `consent_load_create` stores the load and its file (in chunks, see consent.models.load) and
  dispatches the Celery job after commit; `consent_load_confirm` turns an admin preview into a
  real load; `consent_load_run` is the job's body.
* A run streams rows — from the CSV file, or in migration mode from the subjects and the
  subscriptions named in `settings.CONSENT_MIGRATION_SOURCES` — through one validator
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

import csv
import logging
import time
from collections.abc import Iterator
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from kombu.exceptions import OperationalError as KombuOperationalError

from common.audit import history_seal
from consent.addresses import (
    field_error,
)
from consent.loads import report as reports
from consent.loads.report import BATCH_ROWS, LoadRefused, Report
from consent.loads.rows import LoadCatalog, RowValidator, StagedRow, header_columns
from consent.loads.sources import MIGRATION_REASON, subject_rows
from consent.loads.staging import Stage
from consent.loads.storage import TextLines, store_file, stored_chunks
from consent.loads.writers import stage_write
from consent.models import (
    ComplianceProfile,
    ConsentLoad,
    ConsentLoadChunk,
    ContactPointConsent,
)
from consent.webhooks.events import contact_points_loaded

logger = logging.getLogger(__name__)

# What publishing a task raises when the broker is down (kombu wraps most in OperationalError).
BROKER_ERRORS = (KombuOperationalError, ConnectionError, OSError, TimeoutError)


PREVIEW_TTL = timedelta(days=1)  # an admin preview keeps its file this long for the confirm


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
        store_file(load, file)
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


UNREACHABLE_MESSAGE = (
    "Queued: the job queue could not be reached; the load will be started by the periodic "
    "sweep once it is back."
)
STUCK_MESSAGE = "The load stopped (its worker was lost); nothing was written. Upload it again."
ABANDONED_MESSAGE = "The load was never started; its file was deleted. Upload it again."


def consent_loads_sweep(*, now: datetime | None = None) -> dict[str, int]:
    """The periodic sweep (CELERY_BEAT_SCHEDULE): no load file outlives its use.

    * previews nobody confirmed within PREVIEW_TTL lose their file;
    * loads stuck in `running` past CONSENT_LOAD_RUNNING_TIMEOUT (a SIGKILLed worker) fail and
      lose their file — a run writes in one transaction, so a dead one wrote nothing;
    * `pending` loads (the broker was unreachable at upload) are dispatched again, and fail with
      their file deleted once older than PREVIEW_TTL;
    * chunks of a finished load (an orphan a crash left behind) are deleted.
    """
    now = now or timezone.now()
    counts = {"preview_chunks_deleted": consent_load_files_purge(now=now)}
    counts["stuck_failed"] = _fail_loads(
        ConsentLoad.objects.filter(
            status=ConsentLoad.Status.RUNNING,
            started_at__lt=now - timedelta(seconds=settings.CONSENT_LOAD_RUNNING_TIMEOUT),
        ),
        STUCK_MESSAGE,
        now,
    )
    pending = ConsentLoad.objects.filter(status=ConsentLoad.Status.PENDING)
    counts["abandoned_failed"] = _fail_loads(
        pending.filter(created_at__lt=now - PREVIEW_TTL), ABANDONED_MESSAGE, now
    )
    redispatched = 0
    for load in pending.filter(created_at__lt=now - PENDING_GRACE):
        redispatched += _send(load.pk)
    counts["redispatched"] = redispatched
    counts["orphan_chunks_deleted"], _ = ConsentLoadChunk.objects.filter(
        load__status__in=[ConsentLoad.Status.DONE, ConsentLoad.Status.FAILED]
    ).delete()
    return counts


PENDING_GRACE = timedelta(minutes=5)  # a load queued normally starts well within this


def _fail_loads(queryset, message: str, now: datetime) -> int:
    failed = 0
    for pk in queryset.values_list("pk", flat=True):
        with transaction.atomic():
            load = ConsentLoad.objects.select_for_update().get(pk=pk)
            if load.status not in (ConsentLoad.Status.RUNNING, ConsentLoad.Status.PENDING):
                continue
            load.status, load.message, load.finished_at = ConsentLoad.Status.FAILED, message, now
            load.save(update_fields=["status", "message", "finished_at"])
            load.chunks.all().delete()
            failed += 1
    return failed


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
    transaction.on_commit(lambda: _send(load.pk))


def _send(load_id: int) -> int:
    """Queue the job; with the broker unreachable the load stays `pending` (the periodic sweep
    dispatches it again) and the upload still answers normally. 1 if sent."""
    from consent.tasks import run_consent_load  # the task module imports this one

    try:
        run_consent_load.delay(load_id)
    except BROKER_ERRORS:
        logger.warning("consent load %s: broker unreachable, left pending", load_id, exc_info=True)
        ConsentLoad.objects.filter(pk=load_id, status=ConsentLoad.Status.PENDING).update(
            message=UNREACHABLE_MESSAGE
        )
        return 0
    return 1


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


def _finish_after_error(load: ConsentLoad, report: "Report") -> None:
    try:
        _finish(
            load,
            ConsentLoad.Status.FAILED,
            report,
            message="The load stopped on an unexpected error; nothing was written.",
        )
    except Exception:  # e.g. the connection is gone: the job's own error is what matters
        logger.exception("could not mark consent load %s as failed", load.pk)


def _finish(load: ConsentLoad, status: str, report: "Report", message: str = "") -> ConsentLoad:
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


def _last_history_id() -> int:
    return ContactPointConsent.history.aggregate(last=Max("history_id"))["last"] or 0


class _Run:
    def __init__(self, load: ConsentLoad):
        self.load = load
        self.report = Report()
        self.now = timezone.now()
        self.phases: dict[str, float] = {}  # seconds per phase, logged at the end

    def _phase(self, name: str, started: float) -> float:
        now = time.perf_counter()
        self.phases[name] = self.phases.get(name, 0.0) + now - started
        return now

    def execute(self) -> None:
        load = self.load
        with Stage(self.now) as stage:
            started = time.perf_counter()
            self._fill(stage)
            started = self._phase("read+stage", started)
            stage.plan()
            started = self._phase("plan", started)
            self.report.outcome_counts = stage.outcome_counts()
            self.report.notes = stage.notes(reports.MAX_ROW_ERRORS, lines=not load.from_subjects)
            started = self._phase("report", started)
            if load.dry_run:
                _finish(load, ConsentLoad.Status.PREVIEWED, self.report)
            elif load.mode == ConsentLoad.Mode.REJECT and self.report.invalid:
                _finish(load, ConsentLoad.Status.FAILED, self.report, message=self._rejected())
            else:
                with transaction.atomic():
                    last_history_id = _last_history_id()
                    self.report.written = stage_write(
                        stage, user_id=load.created_by_id, reason=self._reason()
                    )
                    contact_points_loaded(after_history_id=last_history_id, history_date=stage.now)
                    started = self._phase("write", started)
                    history_seal()
                    started = self._phase("ledger", started)
                    _finish(load, ConsentLoad.Status.DONE, self.report)
                self._phase("commit", started)

    def _rows(self) -> Iterator[StagedRow]:
        source = subject_rows if self.load.from_subjects else _file_rows
        return source(self.load, self.report, self.now)

    def _fill(self, stage: Stage) -> None:
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


def _file_rows(load: ConsentLoad, report: Report, now: datetime) -> Iterator[StagedRow]:
    lines = TextLines(stored_chunks(load))
    reader = csv.reader(lines, strict=True)
    try:
        validate = RowValidator(LoadCatalog(load.profile), header_columns(next(reader, None)), now)
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
