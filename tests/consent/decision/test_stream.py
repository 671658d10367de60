"""The read-ahead of `consent.decision.stream`: batches fetched one ahead in a thread."""

import threading

import pytest
from django.db import connection, transaction

from consent.decision.stream import _read_ahead, _stream, decide_members
from consent.models import Purpose
from subjects.models import Contact


def test_read_ahead_yields_every_batch_in_order_from_another_thread():
    threads = set()
    batches = iter([[1, 2], [3], [4, 5, 6], []])

    def fetch():
        threads.add(threading.get_ident())
        return next(batches)

    assert list(_read_ahead(fetch)) == [[1, 2], [3], [4, 5, 6]]
    assert threads and threading.get_ident() not in threads


def test_an_error_while_fetching_reaches_the_caller():
    def fetch():
        raise RuntimeError("connection lost")

    with pytest.raises(RuntimeError, match="connection lost"):
        list(_read_ahead(fetch))


def test_closing_early_stops_the_fetching_thread():
    fetched = []

    def fetch():
        fetched.append(len(fetched))
        return [len(fetched)]  # endless

    batches = _read_ahead(fetch)
    assert next(batches) == [1]
    batches.close()
    settled = len(fetched)
    assert settled <= 3  # at most the batch in the queue and the one being fetched
    assert not any(thread.name == "audience-read-ahead" for thread in threading.enumerate())
    assert len(fetched) == settled


@pytest.mark.django_db(transaction=True)
def test_a_stream_closed_early_leaves_the_connection_usable():
    sql = " UNION ALL ".join(f"SELECT {n} AS n" for n in range(1, 6))
    rows = _stream(connection, sql, [], batch_size=2)
    assert next(rows) == [(1,), (2,)]
    rows.close()
    assert not connection.in_atomic_block
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT 42")
        assert cursor.fetchone() == (42,)
    assert list(_stream(connection, sql, [], batch_size=2)) == [
        [(1,), (2,)],
        [(3,), (4,)],
        [(5,)],
    ]


def test_no_members_no_statement(db, django_assert_num_queries):
    purpose = Purpose.objects.filter(profile__is_default=True).first()
    members = Contact.objects.none().values_list("pk", "email", "pk")
    with django_assert_num_queries(0):
        assert list(decide_members(members, channel="email", purpose=purpose)) == []
