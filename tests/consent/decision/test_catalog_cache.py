"""The cached catalog (consent.decision.questions.cached_catalog): a check reads the catalog
stamp instead of the purposes, profiles, topics and notice versions, and is never stale."""

import uuid

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from consent.decision.bulk import decide_many
from consent.decision.questions import Catalog, forget_cached_catalog
from consent.decision.single import decide
from consent.models import CatalogStamp, Purpose
from tests import factories
from tests.consent.decision.helpers import Model

pytestmark = pytest.mark.django_db


def queries_of(function) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        function()
    return [query["sql"] for query in captured.captured_queries]


def check(w, purpose=None):
    purpose = purpose or w.marketing
    return decide(channel="email", value="ann@example.org", purpose=purpose.pk)


def test_a_warm_catalog_costs_no_query_of_its_own(w, settings):
    settings.PREPARED_QUERY_VERIFY = False  # count the fast path alone
    settings.CONSENT_CATALOG_CACHE = False
    uncached = queries_of(lambda: check(w))
    settings.CONSENT_CATALOG_CACHE = True
    forget_cached_catalog()
    queries_of(lambda: check(w))  # loads it
    warm = queries_of(lambda: check(w))

    purpose_table = Purpose._meta.db_table
    assert any(purpose_table in sql for sql in uncached)
    assert not any(purpose_table in sql for sql in warm)
    # The stamp's token comes with the suppression and the subjects; then the records.
    assert sum(CatalogStamp._meta.db_table in sql for sql in warm) == 1
    assert len(warm) == 2
    assert len(uncached) == 3  # the same two, and the purposes (no topic is asked)


def disabled_by_another_process(purpose):
    """What another process's change leaves behind: the purpose's row and a new stamp token,
    written by SQL, so this process's cached catalog knows nothing of it."""
    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {qn(Purpose._meta.db_table)} SET {qn('consent_model')} = %s "
            f"WHERE {qn('id')} = %s",
            [Model.DISABLED, purpose.pk],
        )
        cursor.execute(
            f"UPDATE {qn(CatalogStamp._meta.db_table)} SET {qn('token')} = %s",
            [str(uuid.uuid4())],
        )


def test_a_change_committed_by_another_process_is_seen_by_the_next_check(w):
    factories.cp_consent(value="ann@example.org", purpose_obj=w.marketing, status="opted_in")
    assert check(w).reason == "opted_in"
    disabled_by_another_process(w.marketing)
    assert check(w).reason == "purpose_disabled"


def test_every_write_to_the_configuration_changes_the_stamp(w):
    def token():
        return CatalogStamp.objects.get().token

    before = token()
    w.marketing.required_level = 2
    w.marketing.save()
    after_purpose = token()
    factories.topic(purpose_obj=w.marketing, name="Offers")
    after_topic = token()
    w.profile.check_subject_consent = False
    w.profile.save()
    after_profile = token()
    w.events.delete()
    after_delete = token()
    assert len({before, after_purpose, after_topic, after_profile, after_delete}) == 5


def test_a_rolled_back_change_is_not_kept(w):
    factories.cp_consent(value="ann@example.org", purpose_obj=w.marketing, status="opted_in")
    assert check(w).reason == "opted_in"
    with pytest.raises(RuntimeError), transaction.atomic():
        w.marketing.consent_model = Model.DISABLED
        w.marketing.save()
        assert check(w).reason == "purpose_disabled"  # the transaction's own catalog
        raise RuntimeError("roll back")
    assert check(w).reason == "opted_in"


def test_the_cached_catalog_still_refuses_unknown_and_mismatched_ids(w):
    other = factories.compliance_profile(name="Other")
    factories.purpose(profile=other, name="Other news")
    catalog = Catalog.fetch([w.marketing.pk], [])
    assert catalog.question(w.marketing.pk, w.events.pk).topic == w.events
    (decision,) = decide_many(
        [{"channel": "email", "value": "ann@example.org", "purpose": w.tips.purpose_id}]
    )
    assert decision.reason == "not_opted_out"
    with pytest.raises(ValidationError) as refused:
        decide(channel="email", value="ann@example.org", purpose=w.marketing.pk, profile=other.pk)
    assert "another compliance profile" in str(refused.value)


@pytest.fixture
def pipelined(settings):
    """Each statement a check runs, with whether it went in a pipeline (PostgreSQL)."""
    if connection.vendor != "postgresql":
        pytest.skip("psycopg's pipeline mode: PostgreSQL only")
    from psycopg import pq

    settings.PREPARED_QUERY_VERIFY = False  # the fast path alone
    statements = []

    def record(execute, sql, params, many, context):
        status = connection.connection.pgconn.pipeline_status
        statements.append((sql, status != pq.PipelineStatus.OFF))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        yield statements


def test_on_postgresql_a_check_with_a_current_catalog_is_one_round_trip(w, pipelined):
    factories.cp_consent(value="ann@example.org", purpose_obj=w.marketing, status="opted_in")
    check(w)  # loads the catalog
    pipelined.clear()
    assert check(w).reason == "opted_in"
    # The stamp, suppression and subjects, and the records: sent together, in one pipeline.
    assert [in_pipeline for _sql, in_pipeline in pipelined] == [True, True]
    assert CatalogStamp._meta.db_table in pipelined[0][0]


def test_on_postgresql_a_stale_catalog_in_the_pipeline_is_never_the_answer(w, pipelined):
    factories.cp_consent(value="ann@example.org", purpose_obj=w.marketing, status="opted_in")
    check(w)
    disabled_by_another_process(w.marketing)
    pipelined.clear()
    assert check(w).reason == "purpose_disabled"
    # The pipeline ran with the stale catalog; its token differed, so the catalog was read
    # again and the records asked under it, outside any pipeline.
    assert [in_pipeline for _sql, in_pipeline in pipelined][:2] == [True, True]
    assert not any(in_pipeline for _sql, in_pipeline in pipelined[2:])
    assert any(Purpose._meta.db_table in sql for sql, _ in pipelined[2:])


def test_on_postgresql_an_id_the_cached_catalog_lacks_is_asked_of_the_database(
    w, pipelined, settings
):
    check(w)  # the catalog loaded before the purpose below existed
    newer = factories.purpose(profile=w.profile, name="Added since")
    from consent.decision.questions import peek_cached_catalog

    assert newer.pk not in peek_cached_catalog()[1].purposes
    cached = check(w, newer)  # no "unknown purpose" from the cached catalog
    settings.CONSENT_CATALOG_CACHE = False
    assert cached == check(w, newer)
    assert cached.reason == "no_purpose_opt_in"
