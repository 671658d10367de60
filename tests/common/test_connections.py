"""common.connections.read_checked_on_failure: a consent check spares the request Django's
`SELECT 1` health check, and still survives a connection the server dropped while idle."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from common.connections import read_checked_on_failure
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)  # a persistent connection, as in production


@pytest.fixture
def persistent(monkeypatch):
    """The connection as the production settings keep it: persistent, health-checked."""
    if connection.vendor != "postgresql":
        pytest.skip("a server that drops connections: PostgreSQL")
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 60)
    monkeypatch.setitem(connection.settings_dict, "CONN_HEALTH_CHECKS", True)
    connection.close()
    connection.ensure_connection()
    yield
    connection.close()


def a_new_request():
    """What Django does when a request starts (`close_old_connections`; the test client skips
    it): the connection is kept, and its health is to be checked again."""
    connection.close_if_unusable_or_obsolete()
    assert connection.connection is not None and not connection.health_check_done


def drop_the_connection():
    """The server ends this connection's backend, as a restart or an idle timeout would."""
    import psycopg

    pid = connection.connection.info.backend_pid
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    with psycopg.connect(**params, autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])


@pytest.fixture
def purpose(settings):
    settings.PREPARED_QUERY_VERIFY = False  # the fast path's own statements
    return factories.purpose(profile=factories.compliance_profile(name="Shop"), name="News")


def check(client, purpose):
    body = {"channel": "email", "value": "ann@example.org", "purpose": purpose.pk}
    return client.post("/api/v1/consent-checks/", body, format="json")


def test_on_postgresql_a_check_asks_no_health_check(persistent, mailer, purpose):
    assert check(mailer, purpose).status_code == 200  # token and catalog cached
    a_new_request()
    with CaptureQueriesContext(connection) as captured:
        response = check(mailer, purpose)
    assert response.status_code == 200
    statements = [query["sql"] for query in captured.captured_queries]
    assert "SELECT 1" not in statements
    assert len(statements) == 2  # the gates and the records, in one pipeline


def test_on_postgresql_a_check_survives_a_connection_dropped_while_idle(
    persistent, mailer, purpose
):
    assert check(mailer, purpose).status_code == 200
    a_new_request()
    drop_the_connection()
    response = check(mailer, purpose)
    assert response.status_code == 200, response.content
    assert response.json()["reason"] == "no_purpose_opt_in"
    assert connection.is_usable()


def test_on_postgresql_a_prepared_cursor_checks_a_reused_connection_as_django_does(persistent):
    # prepared_cursor opens its cursor without `connection.cursor()`; it once skipped Django's
    # health check with it, and a check on a dropped connection answered 500.
    from common.prepared import prepared_cursor

    a_new_request()
    drop_the_connection()
    with prepared_cursor(connection) as cursor:
        cursor.execute("SELECT 2")
        assert cursor.fetchall() == [(2,)]


def test_on_postgresql_an_error_of_the_read_itself_is_raised_once(persistent):
    calls = []

    def failing_read():
        calls.append(1)
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 / 0 FROM pg_sleep(0)")  # a live connection, a bad statement

    a_new_request()
    with pytest.raises(Exception, match="division by zero"):
        read_checked_on_failure(failing_read)
    assert len(calls) == 1
