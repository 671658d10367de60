"""One check: `decide` answers one question with a fixed handful of prepared queries."""

from datetime import datetime

from django.db.models import CharField, Q, Value
from django.utils import timezone

from common.prepared import PreparedQuery
from consent.addresses import normalize_address, normalized_address_hash
from consent.decision import past
from consent.decision.explain import with_explanation
from consent.decision.questions import Catalog
from consent.decision.rules import (
    ALLOW_FIELDS,
    HOLDER_COLUMNS,
    SUBJECT_CHANNEL_FIELD,
    Address,
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
    Suppression,
)
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

    A constant handful of queries (at most five), whatever the data; one more when the purpose
    requires the current notice (rule 10a). `explain` adds the explanation (the same number of
    queries); `as_of` replays the decision from the history tables as the data stood at that
    (past) instant (consent.decision.past).
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
        catalog = Catalog.fetch([purpose], [topic])
        question = catalog.question(purpose, topic, profile)
        facts = address_facts(
            address,
            purpose_ids=question.purpose_ids,
            topic_ids=question.topic_ids,
            explain=explain,
            notices=catalog.current_notices([question.purpose, question.tracking]),
        )
    decision = answer(facts, question)
    return with_explanation(decision, facts, question) if explain else decision


def address_facts(
    address: Address,
    *,
    purpose_ids: set[int],
    topic_ids: set[int],
    explain: bool = False,
    notices: dict[int, frozenset[str]] | None = None,
) -> AddressFacts:
    """The facts of one address, straight from its rows (three queries at most, each compiled
    once per process: see common.prepared). With `explain`, the same three queries select the
    subjects one by one and the records' evidence too; `notices` (`current_notices`) marks the
    opt-ins given under an outdated notice (rule 10a)."""
    channel, value = address
    now = timezone.now()
    record_rows = (_EXPLAINED_RECORDS if explain else _ADDRESS_RECORDS).rows(
        channel, value, purpose_ids, topic_ids
    )
    suppressed = bool(_SUPPRESSION.rows(channel, normalized_address_hash(value)))
    records = record_facts(record_rows, now, notices).get(address, {})
    if explain:
        return explained_facts(
            channel,
            value,
            suppressed=suppressed,
            holders=_holders(channel, value),
            records=records,
        )
    return AddressFacts(
        channel,
        value,
        suppressed=suppressed,
        subjects=_subjects_holding(channel, value),
        records=records,
    )


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
