"""Writers: the planned changes written in one transaction with their history rows; set-based
SQL on PostgreSQL, batched ORM bulk operations elsewhere.
"""

from datetime import datetime

from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, transaction

from common.audit import history_insert_sql, history_mark
from consent.loads.report import WRITE_OUTCOMES
from consent.loads.rows import from_micros
from consent.loads.staging import PLAN, Stage, captured_sql
from consent.models import (
    ContactPointConsent,
)

ORM_BATCH = 500  # rows per ORM write batch (SQLite's variable limit, memory)


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
        "captured_at": captured_sql("postgresql", "p"),
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


def _write_postgres(stage: Stage, *, user_id: int | None, reason: str) -> int:
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


def _write_orm(stage: Stage, *, user_id: int | None, reason: str) -> int:
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
        captured_at = from_micros(captured_us)
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


def stage_write(stage: Stage, *, user_id: int | None, reason: str) -> int:
    """Write what the stage planned: set-based SQL on PostgreSQL, ORM batches elsewhere."""
    writer = _write_postgres if stage.postgres else _write_orm
    history_mark(ContactPointConsent)  # the ledger seals the rows written from here on
    return writer(stage, user_id=user_id, reason=reason)
