"""One check: `decide` answers one question with two prepared statements.

The first (`_gates`) reads what does not depend on the question: the catalog stamp's token, the
suppression and the subjects holding the address, folded. The second reads the address's records
for the question's purposes and topic; an explanation reads the subjects one by one and the
records' evidence with the same two. `as_of` replays from the history (consent.decision.past).
"""

from datetime import datetime
from functools import cache

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import CharField, Q, Value
from django.utils import timezone

from common.prepared import PreparedQuery, PreparedQueryMismatch, prepared_cursor
from consent.addresses import normalize_address, normalized_address_hash
from consent.decision import past
from consent.decision.explain import with_explanation
from consent.decision.questions import Catalog, cached_catalog, peek_cached_catalog, stamp_token
from consent.decision.rules import (
    ALLOW_FIELDS,
    HOLDER_COLUMNS,
    SUBJECT_CHANNEL_FIELD,
    AddressFacts,
    Decision,
    Holder,
    SubjectFacts,
    answer,
    current_notices,
    explained_facts,
    record_facts,
    records_query,
)
from consent.models import (
    CatalogStamp,
    Suppression,
)
from consent.models.catalog import STAMP_ID
from subjects.models import Contact, DataProtectionConsent, Lead


def decide(
    *,
    channel: str,
    value: str,
    purpose,
    topic=None,
    profile=None,
    explain: bool = False,
    as_of: datetime | None = None,
) -> Decision:
    """The decision for one address; `purpose`, `topic`, `profile` are instances or ids.

    Two statements with the cached catalog (CONSENT_CATALOG_CACHE), whatever the data, plus
    the catalog's own queries when it changed. `explain` adds the explanation with the same
    two (they select the subjects one by one and the records' evidence); `as_of` replays the
    decision from the history tables as the data stood at that (past) instant
    (consent.decision.past).
    """
    address = (channel, normalize_address(channel, value))
    if as_of is not None:
        question = past.catalog_as_of([purpose], [topic], at=as_of).question(
            purpose, topic, profile
        )
        facts = past.facts_as_of(
            {address},
            purpose_ids=question.purpose_ids,
            topic_ids=question.topic_ids,
            at=as_of,
            notices=current_notices([question.purpose, question.tracking], at=as_of),
        )[address]
    else:
        (_token, suppressed, subjects), catalog, question, rows = _now(
            address, purpose, topic, profile, explain=explain
        )
        notices = catalog.current_notices([question.purpose, question.tracking])
        records = record_facts(rows, timezone.now(), notices).get(address, {})
        if explain:
            facts = explained_facts(
                *address, suppressed=suppressed, holders=subjects, records=records
            )
        else:
            facts = AddressFacts(
                *address, suppressed=suppressed, subjects=subjects, records=records
            )
    decision = answer(facts, question)
    return with_explanation(decision, facts, question) if explain else decision


def _now(address: tuple, purpose, topic, profile, *, explain: bool) -> tuple:
    """(gates, catalog, question, record rows) as the data stands now.

    With the process's catalog current (the usual case) this is one round trip: the records'
    statement is built from the cached catalog and sent in a pipeline with `_gates`, whose
    stamp token then proves that catalog current. When the token differs, or the cached
    catalog does not know the question's ids (perhaps added since), the records are read
    again under the catalog the token names: never an answer from a stale catalog.
    """
    query = _EXPLAINED_RECORDS if explain else _ADDRESS_RECORDS
    gates = None
    if settings.CONSENT_CATALOG_CACHE and _pipelines(connection):
        cached_token, catalog = peek_cached_catalog()
        statement = None
        if catalog is not None:
            try:
                question = catalog.question(purpose, topic, profile)
            except ValidationError:
                pass  # the sure path below gives the error, or the catalog was stale
            else:
                statement = query.statement(*address, question.purpose_ids, question.topic_ids)
        if statement is not None:
            sql, params = _gates_statement(*address, explain=explain)
            with prepared_cursor(connection) as first, prepared_cursor(connection) as second:
                with connection.wrap_database_errors, connection.connection.pipeline():
                    first.execute(sql, params)
                    second.execute(statement.sql, statement.params)
                gates = _gates_read(first.fetchall(), *address, explain=explain)
                fetched = second.fetchall()
            if gates[0] == cached_token:
                return gates, catalog, question, statement.rows(fetched)
    if gates is None:
        gates = _gates(*address, explain=explain)
    if settings.CONSENT_CATALOG_CACHE:
        catalog = cached_catalog(gates[0])
    else:
        catalog = Catalog.fetch([purpose], [topic])
    question = catalog.question(purpose, topic, profile)
    return gates, catalog, question, query.rows(*address, question.purpose_ids, question.topic_ids)


def _pipelines(connection) -> bool:
    """Statements can share a round trip: psycopg's pipeline mode, with prepared statements."""
    return connection.vendor == "postgresql" and getattr(settings, "PREPARED_STATEMENTS", True)


_ADDRESS_RECORDS = PreparedQuery(
    lambda channel, value, purpose_ids, topic_ids: records_query(
        Q(channel=channel, value=value), purpose_ids, topic_ids
    )
)


_EXPLAINED_RECORDS = PreparedQuery(
    lambda channel, value, purpose_ids, topic_ids: records_query(
        Q(channel=channel, value=value), purpose_ids, topic_ids, explain=True
    )
)


_SUPPRESSION = PreparedQuery(
    lambda channel, value_hash: (
        Suppression.objects.filter(channel=channel, value_hash=value_hash)
        .order_by()
        .values_list("pk")[:1]
    )
)


def _subjects_query(lookup: str):
    """Every non-anonymized lead and contact holding an address (`with_email` / `with_phone`)."""

    def build(value):
        fields = ("restricted", "data_protection_consent", "consent_level", *ALLOW_FIELDS)
        leads, contacts = (
            getattr(model.objects.not_anonymized(), lookup)(value).order_by().values_list(*fields)
            for model in (Lead, Contact)
        )
        return leads.union(contacts, all=True)

    return PreparedQuery(build)


# Normalized e-mail addresses are lower-cased already: `with_email_key`, not `with_email`,
# whose `.lower()` in Python would keep the query from being prepared.
_SUBJECTS_HOLDING = {
    "email": _subjects_query("with_email_key"),
    "phone": _subjects_query("with_phone"),
}


def _holders_query(lookup: str):
    """The same subjects one by one, with what an explanation names (Holder.from_row)."""

    def build(value):
        leads, contacts = (
            getattr(model.objects.not_anonymized(), lookup)(value)
            .order_by()
            .annotate(kind=Value(model._meta.model_name, output_field=CharField()))
            .values_list(*HOLDER_COLUMNS)
            for model in (Lead, Contact)
        )
        return leads.union(contacts, all=True)

    return PreparedQuery(build)


_HOLDERS = {"email": _holders_query("with_email_key"), "phone": _holders_query("with_phone")}


def _holders(channel: str, value: str) -> list[Holder]:
    if channel not in SUBJECT_CHANNEL_FIELD:
        return []  # custom channels have no subjects
    return [Holder.from_row(row) for row in _HOLDERS[SUBJECT_CHANNEL_FIELD[channel]].rows(value)]


def _gates(channel: str, value: str, *, explain: bool = False) -> tuple:
    """(the catalog stamp's token, suppressed?, subjects) in one prepared statement: what a check
    reads that does not depend on its question. The subjects holding the address come folded
    (SubjectFacts, or None), or with `explain` one by one (a list of Holder).

    Hand-written SQL beside the readable path (`stamp_token`, `_SUPPRESSION`,
    `_subjects_holding` / `_holders`); PREPARED_QUERY_VERIFY (the test settings) runs that path
    too and raises PreparedQueryMismatch on any difference, so every decision test checks the
    pair.
    """
    sql, params = _gates_statement(channel, value, explain=explain)
    with prepared_cursor(connection) as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return _gates_read(rows, channel, value, explain=explain)


def _gates_statement(channel: str, value: str, *, explain: bool) -> tuple[str, list]:
    subject_field = SUBJECT_CHANNEL_FIELD.get(channel)
    params = [channel, normalized_address_hash(value)]
    if subject_field is not None:
        params += ([] if explain else [DataProtectionConsent.RESTRICT]) + [value, value]
    return _gates_sql(subject_field, explain), params


def _gates_read(rows: list[tuple], channel: str, value: str, *, explain: bool) -> tuple:
    """`_gates`' answer from its statement's rows."""
    token, suppressed = rows[0][0], bool(rows[0][1])
    if explain:
        holders = (Holder.from_row(row[2:]) for row in rows if len(row) > 2 and row[3] is not None)
        subjects = sorted(holders, key=_holder_key)
        readable_subjects = lambda: sorted(_holders(channel, value), key=_holder_key)  # noqa: E731
    else:
        count, *fold = rows[0][2:]
        subjects = None
        if count:
            restricted, min_level, *allows = fold
            subjects = SubjectFacts(bool(restricted), min_level, *map(bool, allows))
        readable_subjects = lambda: _subjects_holding(channel, value)  # noqa: E731
    gates = (token, suppressed, subjects)
    if getattr(settings, "PREPARED_QUERY_VERIFY", False):
        suppression = _SUPPRESSION.rows(channel, normalized_address_hash(value))
        readable = (stamp_token(), bool(suppression), readable_subjects())
        if gates != readable:
            raise PreparedQueryMismatch(f"_gates{(channel, value)!r}: {gates!r} != {readable!r}")
    return gates


def _holder_key(holder: Holder) -> tuple:
    return (holder.type, holder.id)


@cache
def _gates_sql(subject_field: str | None, explain: bool) -> str:
    """The statement of `_gates` for subjects found by e-mail, by phone, or none (custom)."""
    qn = connection.ops.quote_name
    stamp = (
        f"(SELECT {qn('token')} FROM {qn(CatalogStamp._meta.db_table)} "
        f"WHERE {qn('id')} = {STAMP_ID})"
    )
    suppressed = (
        f"EXISTS(SELECT 1 FROM {qn(Suppression._meta.db_table)} "
        f"WHERE {qn('channel')} = %s AND {qn('value_hash')} = %s)"
    )
    if subject_field is None:
        return f"SELECT {stamp}, {suppressed}" + ("" if explain else ", 0")
    # The same subjects as `_subjects_holding` and `_holders`: not anonymized, and found as
    # `with_email_key` / `with_phone` find them.
    key = f"LOWER({qn('email')})" if subject_field == "email" else qn("phone")
    names = [name for name in HOLDER_COLUMNS if name != "kind"]
    holders = " UNION ALL ".join(
        f"SELECT '{model._meta.model_name}' AS kind, {', '.join(map(qn, names))} "
        f"FROM {qn(model._meta.db_table)} WHERE {qn('anonymized_at')} IS NULL AND {key} = %s"
        for model in (Lead, Contact)
    )
    gates = f"SELECT {stamp} AS token, {suppressed} AS suppressed"
    if explain:  # one row per subject, or one row of NULLs when none holds the address
        return (
            f"SELECT gates.*, holders.* FROM ({gates}) gates LEFT JOIN ({holders}) holders ON 1 = 1"
        )
    # Folded as SubjectFacts.merge folds them: any restriction, the lowest level, every flag.
    flags = ", ".join(f"MIN(CASE WHEN {qn(name)} THEN 1 ELSE 0 END)" for name in ALLOW_FIELDS)
    fold = (
        f"SELECT COUNT(*) AS n, MAX(CASE WHEN {qn('restricted')} "
        f"OR {qn('data_protection_consent')} = %s THEN 1 ELSE 0 END) AS r, "
        f"MIN({qn('consent_level')}) AS l, {flags} FROM ({holders}) holders"
    )
    return f"SELECT {stamp}, {suppressed}, folded.* FROM ({fold}) folded"


def _subjects_holding(channel: str, value: str) -> SubjectFacts | None:
    """Every non-anonymized lead and contact with the address, folded in Python."""
    if channel not in SUBJECT_CHANNEL_FIELD:
        return None  # custom channels have no subjects
    folded = None
    for restricted, protection, level, *allows in _SUBJECTS_HOLDING[
        SUBJECT_CHANNEL_FIELD[channel]
    ].rows(value):
        subject = SubjectFacts(
            restricted or protection == DataProtectionConsent.RESTRICT,
            level,
            *map(bool, allows),
        )
        folded = subject.merge(folded)
    return folded
