"""One decision (consent/decision/single.py, `decide`): the records it consulted, and a constant
handful of queries."""

from consent.decision import single
from consent.decision.single import decide
from consent.services.contact_points import suppression_add
from tests import factories
from tests.consent.decision.helpers import (
    EMAIL,
    OPTED_IN,
    OPTED_OUT,
    opt,
    opted_in_everywhere,
    person,
)


def test_consulted_ids_name_the_records_read(w):
    purpose_record = opt(w.marketing, OPTED_IN)
    topic_record = opt(w.marketing, OPTED_IN, topic=w.events)
    tracking_record = opt(w.tracking, OPTED_OUT)
    opt(w.service_news, OPTED_IN)  # not asked about
    decision = decide(channel="email", value=EMAIL, purpose=w.marketing, topic=w.events)
    assert decision.consulted_ids == tuple(
        sorted([purpose_record.pk, topic_record.pk, tracking_record.pk])
    )


def test_decide_runs_a_constant_handful_of_queries(
    w, django_assert_max_num_queries, prepared_unverified
):
    opted_in_everywhere(w)
    for n in range(5):
        person(level=5, model=factories.lead if n % 2 else factories.contact)
    suppression_add(channel="email", value="other@example.org")
    decide(channel="email", value=EMAIL, purpose=w.marketing.pk)  # the process loads the catalog
    # The catalog stamp with the suppression and the subjects (`_gates`), then the records.
    with django_assert_max_num_queries(2):
        decision = decide(channel="email", value=EMAIL, purpose=w.marketing.pk, topic=w.events.pk)
    assert decision.allowed


def test_every_query_of_a_check_is_prepared_not_rebuilt_by_the_orm(w, prepared_unverified):
    """A query whose values are transformed in Python falls back to the ORM on every check
    (common.prepared): none of the single check's may, on any channel or with explain."""
    for channel, value in (("email", EMAIL), ("sms", "+31612345678"), ("custom", "id-1")):
        for explain in (False, True):
            decide(channel=channel, value=value, purpose=w.marketing.pk, explain=explain)
    # The rest of a check is `_gates`, one hand-written statement (test_catalog_cache.py).
    for query in (single._ADDRESS_RECORDS, single._EXPLAINED_RECORDS):
        compiled = query._local.__dict__.get("compiled", {})
        assert compiled, query.build
        assert None not in compiled.values(), query.build
