"""common.prepared: a queryset compiled once, bound again, and the same rows as the ORM."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from common.prepared import PreparedQuery
from consent.models import ContactPointConsent
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def unverified(settings):
    """Count the prepared path alone (PREPARED_QUERY_VERIFY would run the ORM as well)."""
    settings.PREPARED_QUERY_VERIFY = False


class Counting:
    """A build function that counts how often it was asked for a queryset."""

    def __init__(self, build):
        self.build, self.calls = build, 0

    def __call__(self, *args):
        self.calls += 1
        return self.build(*args)


def records(channel, values):
    return (
        ContactPointConsent.objects.filter(channel=channel, value__in=values)
        .order_by("value")
        .values_list("value", "status", "created_at", "topic_id")
    )


@pytest.fixture
def stored():
    purpose = factories.purpose()
    return [
        factories.cp_consent(value=f"p{n}@example.com", purpose_obj=purpose, status="opted_in")
        for n in range(4)
    ]


def test_the_same_rows_as_the_orm_for_every_binding(stored, unverified):
    build = Counting(records)
    prepared = PreparedQuery(build)
    for values in (["p0@example.com", "p1@example.com"], ["p2@example.com", "p3@example.com"]):
        assert prepared.rows("email", values) == list(records("email", values))
    assert prepared.rows("sms", ["p0@example.com", "p1@example.com"]) == []
    # compiled once for the shape (str, two values) with two sets of markers, then only bound
    assert build.calls == 2


def test_rows_are_converted_as_the_orm_converts_them(stored):
    ((value, status, created_at, topic_id),) = PreparedQuery(records).rows(
        "email", ["p0@example.com"]
    )
    assert (value, status, topic_id) == ("p0@example.com", stored[0].status, None)
    assert created_at == stored[0].created_at  # an aware datetime on SQLite too, not a string


def test_one_query_per_run(stored, unverified):
    prepared = PreparedQuery(records)
    prepared.rows("email", ["p0@example.com"])
    with CaptureQueriesContext(connection) as captured:
        prepared.rows("email", ["p1@example.com"])
    assert len(captured) == 1


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's prepared statements")
def test_on_postgresql_a_repeated_query_becomes_a_server_prepared_statement(
    stored, unverified, settings
):
    def prepared_statements() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_prepared_statements")
            return cursor.fetchone()[0]

    prepared = PreparedQuery(records)
    before = prepared_statements()
    for n in range(8):  # prepared once, then only executed
        assert prepared.rows("email", [f"p{n % 4}@example.com"])[0][0] == f"p{n % 4}@example.com"
    assert prepared_statements() == before + 1
    with CaptureQueriesContext(connection) as captured:  # logged with its values, as Django's
        prepared.rows("email", ["p1@example.com"])
    assert "'p1@example.com'" in captured[0]["sql"]
    # Django's own (client-binding) cursors never prepare: the setting turns it off.
    settings.PREPARED_STATEMENTS = False
    other = PreparedQuery(lambda channel, values: records(channel, values).filter(topic=None))
    for n in range(8):
        other.rows("email", [f"p{n % 4}@example.com"])
    assert prepared_statements() == before + 1


def test_a_new_shape_is_compiled_anew(stored, unverified):
    build = Counting(records)
    prepared = PreparedQuery(build)
    one = prepared.rows("email", ["p0@example.com"])
    three = prepared.rows("email", ["p0@example.com", "p1@example.com", "p2@example.com"])
    assert [row[0] for row in one] == ["p0@example.com"]
    assert [row[0] for row in three] == ["p0@example.com", "p1@example.com", "p2@example.com"]
    assert build.calls == 4


def test_a_transformed_value_falls_back_to_the_orm_every_time(stored, unverified):
    # `__contains` wraps the value in wildcards: its marker cannot be found among the
    # parameters, so the query is never shortcut (and never wrong).
    build = Counting(
        lambda part: (
            ContactPointConsent.objects.filter(value__contains=part)
            .order_by("value")
            .values_list("value")
        )
    )
    prepared = PreparedQuery(build)
    assert prepared.rows("p1@") == [("p1@example.com",)]
    assert prepared.rows("p2@") == [("p2@example.com",)]
    assert build.calls == 4  # the two marker compiles, then the ORM for each of the two runs


def test_an_empty_collection_is_answered_by_the_orm(stored):
    assert PreparedQuery(records).rows("email", []) == []


def test_only_str_and_int_values_are_bound():
    with pytest.raises(TypeError, match="str and int"):
        PreparedQuery(records).rows("email", [1.5])


def test_each_thread_compiles_its_own_and_lets_it_go_with_the_thread(stored, unverified):
    import gc
    import threading
    import weakref

    from django.db import connections

    build = Counting(records)
    prepared = PreparedQuery(build)
    prepared.rows("email", ["p0@example.com"])
    seen = []

    def other_thread():
        # A thread's own connection to the test database (in-memory SQLite is per connection).
        seen.append(weakref.ref(connections["default"]))
        try:
            prepared.rows("sms", ["p0@example.com"])
        finally:
            connections["default"].close()

    worker = threading.Thread(target=other_thread)
    worker.start()
    worker.join()
    del worker
    gc.collect()
    assert build.calls == 4  # the other thread compiled for itself
    assert seen[0]() is None  # and nothing here keeps its connection alive


@pytest.mark.parametrize(
    "transform",
    [
        str.lower,
        str.upper,
        str.casefold,
        str.strip,
        str.title,
        lambda value: value.replace(" ", ""),
    ],
)
def test_a_value_transformed_in_python_is_never_shortcut(stored, unverified, transform):
    # A build that rewrites its argument before the filter (`with_email` lowercases) would,
    # with markers the rewrite leaves unchanged, bind the raw value into the prepared SQL.
    def build(value):
        return ContactPointConsent.objects.filter(value=transform(value)).values_list("value")

    prepared = PreparedQuery(build)
    assert prepared._compile(("P1@Example.com",)) is None
    assert prepared.rows(" P1@Example.COM ") == list(build(" P1@Example.COM "))


def test_a_subject_found_by_email_in_any_case(unverified):
    from subjects.models import Contact

    factories.contact(email="mixed@example.com")
    prepared = PreparedQuery(lambda value: Contact.objects.with_email(value).values_list("email"))
    assert prepared.rows("MIXED@example.com") == [("mixed@example.com",)]


def test_an_int_marker_shifted_in_python_is_never_shortcut(stored, unverified):
    def build(first, second):
        return ContactPointConsent.objects.filter(pk__in=[first + 1, second]).values_list("pk")

    assert PreparedQuery(build)._compile((1, 2)) is None


def test_verify_mode_fails_on_any_difference(stored, settings, monkeypatch):
    from common.prepared import BoundStatement, PreparedQueryMismatch

    settings.PREPARED_QUERY_VERIFY = True
    prepared = PreparedQuery(records)
    assert prepared.rows("email", ["p0@example.com"]) == list(records("email", ["p0@example.com"]))
    converted = BoundStatement.rows
    # The prepared statement "fetches" nothing: the ORM's rows differ.
    monkeypatch.setattr(BoundStatement, "rows", lambda self, fetched: converted(self, []))
    with pytest.raises(PreparedQueryMismatch):
        prepared.rows("email", ["p0@example.com"])


def test_the_test_settings_verify_every_prepared_query():
    from django.conf import settings

    assert settings.PREPARED_QUERY_VERIFY is True


def test_the_private_compiler_api_it_relies_on_is_unchanged():
    # PreparedQuery calls `Query.get_compiler(using=)`, `SQLCompiler.as_sql()` returning
    # (sql, params) and `SQLCompiler.results_iter(results=, tuple_expected=)`: private Django
    # API. A Django upgrade that changes any of them must fail here, not in production.
    import inspect

    import django
    from django.db.models.sql.compiler import SQLCompiler
    from django.db.models.sql.query import Query

    assert django.VERSION[:2] == (5, 2), "re-check common/prepared.py against this Django"
    assert "using" in inspect.signature(Query.get_compiler).parameters
    assert list(inspect.signature(SQLCompiler.as_sql).parameters)[:3] == [
        "self",
        "with_limits",
        "with_col_aliases",
    ]
    results_iter = inspect.signature(SQLCompiler.results_iter).parameters
    assert {"results", "tuple_expected"} <= set(results_iter)
    compiler = records("email", ["x"]).query.get_compiler(using="default")
    sql, params = compiler.as_sql()
    assert isinstance(sql, str) and "x" in params
