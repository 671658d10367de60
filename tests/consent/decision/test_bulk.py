"""Many decisions at once (consent/decision/bulk.py, `decide_many`): answers in order, a query
count that does not grow with the checks, facts gathered chunk by chunk, and addresses that need
quoting."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from consent.decision.bulk import decide_many, gather_facts, iter_facts, text_array_literal
from consent.decision.single import decide
from consent.services.contact_points import suppression_add
from tests.consent.decision.helpers import EMAIL, OPTED_IN, OPTED_OUT, PHONE, check, opt, person


def test_decide_many_answers_in_order_and_accepts_ids(w):
    opt(w.marketing, OPTED_IN)
    questions = [
        check(w.marketing.pk),
        check(w.marketing.pk, topic=w.events.pk),
        check(str(w.service_news.pk), channel="sms", value="06 12345678"),
        check(w.marketing.pk, value=EMAIL.upper()),
    ]
    reasons = [decision.reason for decision in decide_many(questions)]
    assert reasons == ["opted_in", "no_topic_opt_in", "no_purpose_opt_in", "opted_in"]
    assert decide_many([]) == []


def count_queries(function, *args) -> int:
    with CaptureQueriesContext(connection) as context:
        function(*args)
    return len(context.captured_queries)


def test_decide_many_query_count_does_not_grow_with_the_checks(w, prepared_unverified):
    channels = [("email", "user{}@example.org"), ("sms", "+316123{:05d}"), ("custom", "id-{}")]

    def questions(count):
        result = []
        for n in range(count):
            channel, template = channels[n % 3]
            purpose, topic = (w.marketing, w.events) if n % 2 else (w.service_news, None)
            result.append(check(purpose, topic=topic, channel=channel, value=template.format(n)))
        return result

    for n in range(0, 500, 7):
        channel, template = channels[n % 3]
        opt(w.marketing, OPTED_IN, channel=channel, value=template.format(n))
        if channel != "custom":
            field = "email" if channel == "email" else "phone"
            person(**{"email": None, "phone": None, field: template.format(n)}, level=n % 6)
    suppression_add(channel="email", value="user3@example.org")

    decide_many(questions(1))  # the process loads the catalog (consent.decision.questions)
    assert count_queries(decide_many, questions(10)) == count_queries(decide_many, questions(500))
    assert count_queries(decide_many, questions(500)) <= 4


def test_facts_gathered_chunk_by_chunk_equal_facts_gathered_at_once(w):
    addresses = [("email", f"u{n}@example.org") for n in range(7)] + [("sms", PHONE)]
    for n, (channel, value) in enumerate(addresses):
        opt(w.marketing, OPTED_IN if n % 2 else OPTED_OUT, channel=channel, value=value)
    person(email="u3@example.org", level=2)
    suppression_add(channel="email", value="u5@example.org")
    ids = {"purpose_ids": {w.marketing.pk, w.tracking.pk}, "topic_ids": {w.events.pk}}

    chunks = list(iter_facts(addresses, chunk_size=3, **ids))

    assert [len(chunk) for chunk in chunks] == [3, 3, 2]
    merged = {address: facts for chunk in chunks for address, facts in chunk.items()}
    assert merged == gather_facts(addresses, **ids)
    assert merged[("email", "u5@example.org")].suppressed
    assert merged[("email", "u3@example.org")].subjects.min_level == 2


def test_many_checks_of_few_questions_share_them_and_answer_each(w):
    opt(w.marketing, OPTED_IN, value="in@example.org")
    opt(w.marketing, OPTED_IN, topic=w.events, value="in@example.org")
    opt(w.marketing, OPTED_OUT, value="out@example.org")
    values = ["in@example.org", "out@example.org", "none@example.org"] * 20
    questions = [
        check(w.marketing.pk, topic=w.events.pk if n % 2 else None, value=value)
        for n, value in enumerate(values)
    ]
    many = decide_many(questions)
    single = [decide(**question) for question in questions]
    assert many == single
    assert {decision.reason for decision in many} == {
        "opted_in",
        "purpose_opted_out",
        "no_purpose_opt_in",
    }


CUSTOM_IDS = ['quo"te', "back\\slash", "{br,ace}", "com,ma", "NULL", "it's", "ü-😀", "a" * 200]


def test_custom_addresses_needing_quotes_are_found_by_both_paths(w):
    for n, value in enumerate(CUSTOM_IDS):
        opt(w.service_news, OPTED_OUT if n % 2 else OPTED_IN, channel="custom", value=value)
    suppression_add(channel="custom", value="back\\slash")
    questions = [check(w.service_news.pk, channel="custom", value=value) for value in CUSTOM_IDS]
    many = decide_many(questions)
    assert many == [decide(**question) for question in questions]
    assert [decision.reason for decision in many] == [
        "opted_in",
        "suppressed",
        "opted_in",
        "purpose_opted_out",
        "opted_in",
        "purpose_opted_out",
        "opted_in",
        "purpose_opted_out",
    ]
    assert all(decision.consulted_ids for decision in many)


def test_text_array_literal_round_trips_through_postgresql(db):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's array syntax")
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::text[]", [text_array_literal(CUSTOM_IDS)])
        assert cursor.fetchone()[0] == CUSTOM_IDS
