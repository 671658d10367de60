"""The derived subject fields (DESIGN §3.1): consent level, maximum expiry date and data
protection consent, recomputed from the subject's data consents on every change.
"""

from dataclasses import asdict, dataclass
from datetime import date

from django.db import connection
from django.db.models import Count, Max, Q
from django.utils import timezone

from common.audit import Source, history_attrs, history_insert_sql, history_mark, history_params
from consent.models import DataConsent
from consent.services.contact_points import BATCH_SIZE
from subjects import services as subject_services
from subjects.models import (
    DERIVED_FIELDS,
    PREFERENCE_FIELDS,
    Contact,
    DataProtectionConsent,
    Lead,
    Subject,
)


@dataclass(frozen=True)
class ConsentSummary:
    level: int = 0
    max_expiry: date | None = None
    active_count: int = 0
    total_count: int = 0


def consent_summaries(*, model: type[Subject], ids) -> dict[int, ConsentSummary]:
    """One aggregate query: the consent summary of each subject id."""
    field = model._meta.model_name
    active = Q(state=DataConsent.State.ACTIVE)
    rows = (
        DataConsent.objects.filter(**{f"{field}__in": ids})
        .values(field)
        .annotate(
            level=Max("consent_level", filter=active),
            max_expiry=Max("valid_until", filter=active),
            active_count=Count("id", filter=active),
            total_count=Count("id"),
        )
        .order_by()
    )
    return {
        row[field]: ConsentSummary(
            level=row["level"] or 0,
            max_expiry=row["max_expiry"],
            active_count=row["active_count"],
            total_count=row["total_count"],
        )
        for row in rows
    }


def subjects_refresh(
    *, model: type[Subject], ids, user=None, source: str = Source.SYSTEM, reason: str = ""
) -> int:
    """Recompute the derived fields of the given subjects; history row for each change."""
    ids = sorted(set(ids) - {None})
    changed = []
    for start in range(0, len(ids), BATCH_SIZE):
        chunk = ids[start : start + BATCH_SIZE]
        summaries = consent_summaries(model=model, ids=chunk)
        for subject in model.objects.filter(pk__in=chunk):
            summary = summaries.get(subject.pk, ConsentSummary())
            if subject_services.subject_apply_consent_summary(subject, **asdict(summary)):
                subject.updated_at = timezone.now()
                changed.append(subject)
    if changed:
        model.objects.bulk_update(
            changed, [*DERIVED_FIELDS, *PREFERENCE_FIELDS, "updated_at"], batch_size=BATCH_SIZE
        )
        history_mark(model)
        model.history.bulk_history_create(
            changed,
            batch_size=BATCH_SIZE,
            update=True,
            default_user=user if user and user.is_authenticated else None,
            default_change_reason=reason or "consent summary recomputed",
            custom_historical_attrs=history_attrs(source),
        )
    return len(changed)


def refresh_subjects_of(consents, *, user=None, source: str, reason: str) -> None:
    consents = list(consents)
    subjects_refresh(
        model=Lead, ids=[c.lead_id for c in consents], user=user, source=source, reason=reason
    )
    subjects_refresh(
        model=Contact, ids=[c.contact_id for c in consents], user=user, source=source, reason=reason
    )


def subjects_recompute_sql(*, model: type[Subject], ids: list[int], now, reason: str) -> int:
    """`subjects_refresh` in one statement, for subjects locked by the caller.

    The derivation mirrors `consent_summaries` and `subject_apply_consent_summary` (DESIGN
    §3.1, first match wins; becoming `restrict` switches every preference off);
    tests/consent/services/test_expiry.py checks both paths agree.
    """
    qn = connection.ops.quote_name
    table = qn(model._meta.db_table)
    relation = qn(DataConsent._meta.get_field(model._meta.model_name).column)
    preferences = ", ".join(
        f"{qn(name)} = CASE WHEN d.protection = %(restrict)s "
        f"AND s.data_protection_consent <> %(restrict)s THEN false ELSE s.{qn(name)} END"
        for name in PREFERENCE_FIELDS
    )
    sql = f"""
        WITH derived AS (
            SELECT s.id,
                   summary.level,
                   summary.max_expiry,
                   CASE WHEN s.restricted THEN %(restrict)s
                        WHEN summary.active_count > 0 THEN %(explicit)s
                        WHEN s.inherent_basis THEN %(inherent)s
                        WHEN summary.total_count > 0 THEN %(restrict)s
                        ELSE %(none)s
                   END AS protection
            FROM {table} AS s
            CROSS JOIN LATERAL (
                SELECT COALESCE(MAX(dc.consent_level) FILTER (WHERE dc.state = %(active)s), 0)
                           AS level,
                       MAX(dc.valid_until) FILTER (WHERE dc.state = %(active)s) AS max_expiry,
                       COUNT(*) FILTER (WHERE dc.state = %(active)s) AS active_count,
                       COUNT(*) AS total_count
                FROM {qn(DataConsent._meta.db_table)} AS dc
                WHERE dc.{relation} = s.id
            ) AS summary
            WHERE s.id = ANY(%(ids)s)
        ), changed AS (
            UPDATE {table} AS s
            SET consent_level = d.level,
                max_expiry_date = d.max_expiry,
                data_protection_consent = d.protection,
                {preferences},
                updated_at = %(history_date)s
            FROM derived AS d
            WHERE s.id = d.id
              AND s.id = ANY(%(ids)s)
              AND (s.consent_level, s.max_expiry_date, s.data_protection_consent)
                  IS DISTINCT FROM (d.level, d.max_expiry, d.protection)
            RETURNING s.*
        )
        {history_insert_sql(model, rows="changed", quote_name=qn)}
    """
    params = {
        "ids": ids,
        "active": DataConsent.State.ACTIVE,
        **{value: value for value in DataProtectionConsent.values},
        **history_params(now=now, reason=reason, source=Source.SYSTEM),
    }
    history_mark(model)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount
