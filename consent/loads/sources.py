"""Migration mode (`--from-subjects`): staged rows built from subject preferences and from the
migration sources named in the `CONSENT_MIGRATION_SOURCES` setting (subscription lists).
"""

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.module_loading import import_string

from consent.addresses import (
    normalize_address,
    normalized_address_hash,
)
from consent.loads.report import BATCH_ROWS, Report
from consent.loads.rows import EMAIL, LOADED, StagedRow, Status, to_micros, validation_messages
from consent.models import (
    Channel,
    ConsentLoad,
    Purpose,
)
from subjects.models import Contact, Lead

MIGRATION_REASON = "migration from subject preferences and subscription lists"


PREFERENCES_REASON = "migrated from subject preferences"


LIST_REASON = "migrated from subscription list membership"


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


def migration_sources() -> list[MigrationSource]:
    """The functions named in `settings.CONSENT_MIGRATION_SOURCES`, read at call time.

    consent cannot import the apps that build on it, so an app that holds subscriptions (the
    subscription lists, for one) is named in settings by the dotted path of a function returning
    the SQL of its subscriptions, without parameters:
    `SELECT email_key, purpose_id, topic_id, joined_at`, one row per subscribed person:
    `email_key` the person's lower-cased email, `joined_at` when they subscribed.
    The rule stays in the load (`_subscriptions_sql`): which rows become opt-ins, gated by the
    subjects' preferences in the same query. A path named twice is read once.
    """
    return [import_string(path) for path in dict.fromkeys(settings.CONSENT_MIGRATION_SOURCES)]


def _subscriptions_sql() -> str | None:
    """Per (address, purpose, topic) of the load's profile in the registered sources, with a
    topic: the latest time one of its people subscribed, where every subject with the address
    allows the purpose's kind (the gate of the preferences). Purpose-level subscriptions add
    nothing: every address with a subject already gets a purpose record from its preferences,
    by the same gate."""
    registered = migration_sources()
    if not registered:
        return None
    sources = " UNION ALL ".join(
        f"SELECT email_key AS k, purpose_id, topic_id, joined_at FROM ({source()}) s{number}"
        for number, source in enumerate(registered)
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


def subject_rows(load: ConsentLoad, report: Report, now: datetime) -> Iterator[StagedRow]:
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


def _migration_value(key, lead_id, contact_id, report: Report, count=True) -> str | None:
    try:
        return normalize_address(Channel.EMAIL, key)
    except ValidationError as exc:
        if count:
            report.rows += 1
            holder = f"Lead {lead_id}" if lead_id else f"Contact {contact_id}"
            report.invalid_row(None, [("value", f"{holder}: {validation_messages(exc)}")])
        return None


def _migration_row(line, value, purpose_id, topic_id, status, reason, captured) -> StagedRow:
    value_hash = normalized_address_hash(value) if status == Status.OPTED_IN else None
    captured_us = to_micros(_as_datetime(captured))
    return (
        *(line, EMAIL, value, value_hash, purpose_id, topic_id, str(status)),
        *(LOADED, reason, "", captured_us, True),
    )
