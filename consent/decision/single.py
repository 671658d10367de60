"""One check: `decide` answers one question with a fixed handful of prepared queries."""

from django.db.models import Q
from django.utils import timezone

from common.prepared import PreparedQuery
from consent.addresses import normalize_address, normalized_address_hash
from consent.decision.questions import Catalog
from consent.decision.rules import (
    ALLOW_FIELDS,
    SUBJECT_CHANNEL_FIELD,
    Address,
    AddressFacts,
    Decision,
    SubjectFacts,
    answer,
    record_facts,
    records_query,
)
from consent.models import (
    Suppression,
)
from subjects.models import Contact, DataProtectionConsent, Lead


def decide(*, channel: str, value: str, purpose, topic=None, profile=None) -> Decision:
    """The decision for one address; `purpose`, `topic`, `profile` are instances or ids.

    A constant handful of queries (at most five), whatever the data.
    """
    address = (channel, normalize_address(channel, value))
    question = Catalog.fetch([purpose], [topic]).question(purpose, topic, profile)
    facts = address_facts(address, purpose_ids=question.purpose_ids, topic_ids=question.topic_ids)
    return answer(facts, question)


def address_facts(address: Address, *, purpose_ids: set[int], topic_ids: set[int]) -> AddressFacts:
    """The facts of one address, straight from its rows (three queries at most, each compiled
    once per process: see common.prepared)."""
    channel, value = address
    now = timezone.now()
    records = _ADDRESS_RECORDS.rows(channel, value, purpose_ids, topic_ids)
    return AddressFacts(
        channel,
        value,
        suppressed=bool(_SUPPRESSION.rows(channel, normalized_address_hash(value))),
        subjects=_subjects_holding(channel, value),
        records=record_facts(records, now).get(address, {}),
    )


_ADDRESS_RECORDS = PreparedQuery(
    lambda channel, value, purpose_ids, topic_ids: records_query(
        Q(channel=channel, value=value), purpose_ids, topic_ids
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


_SUBJECTS_HOLDING = {"email": _subjects_query("with_email"), "phone": _subjects_query("with_phone")}


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
