"""The read-replica router (common.replica): routed reads go to the replica alias, nothing else.

The test settings add the alias `replica` as a mirror of the test database (another connection
to the same database, as a streaming replica would be) and leave READ_REPLICA off; these tests
turn it on. Committed data (transaction=True): the mirror's connection cannot see the test's
uncommitted rows, like a replica.
"""

import csv
import io

import pytest
from django.db import connections, transaction
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from common.replica import reading_from_replica, replica_alias, streamed_from_replica
from consent.models import ComplianceProfile
from marketing_lists.models import MarketingList
from marketing_lists.services import marketing_list_save
from tests import factories

BOTH = ["default", "replica"]
# No serialized rollback: restoring the fresh-install rows after another transactional test has
# flushed (and post_migrate re-created the role groups) would insert them twice.
pytestmark = pytest.mark.django_db(transaction=True, databases=BOTH)


class Captured:
    """The statements each alias ran inside the block."""

    def __enter__(self):
        self.contexts = {alias: CaptureQueriesContext(connections[alias]) for alias in BOTH}
        for context in self.contexts.values():
            context.__enter__()
        return self

    def __exit__(self, *exc):
        for context in self.contexts.values():
            context.__exit__(*exc)

    def sql(self, alias: str) -> list[str]:
        return [query["sql"] for query in self.contexts[alias].captured_queries]


@pytest.fixture
def replica_on():
    with override_settings(READ_REPLICA="replica"):
        yield


def test_without_a_replica_routed_reads_stay_on_default():
    assert replica_alias() is None
    with reading_from_replica(), Captured() as captured:
        assert replica_alias() is None
        list(MarketingList.objects.all())
    assert captured.sql("replica") == []
    assert len(captured.sql("default")) == 1


def test_routed_reads_go_to_the_replica_and_unrouted_ones_do_not(replica_on):
    marketing_list_save(marketing_list=MarketingList(name="Read me"))
    with Captured() as captured:
        with reading_from_replica():
            routed = list(MarketingList.objects.values_list("name", flat=True))
        unrouted = list(MarketingList.objects.values_list("name", flat=True))
    assert routed == unrouted == ["Read me"]  # the replica holds the committed row
    assert len(captured.sql("replica")) == 1
    assert len(captured.sql("default")) == 1
    assert "marketing_lists_marketinglist" in captured.sql("replica")[0]


def test_writes_and_the_reads_of_their_transaction_stay_on_default(replica_on):
    with reading_from_replica(), Captured() as captured:
        marketing_list_save(marketing_list=MarketingList(name="Written"))
        with transaction.atomic():
            assert replica_alias() is None  # read your own writes
            assert MarketingList.objects.filter(name="Written").exists()
    assert captured.sql("replica") == []
    assert any(sql.startswith("INSERT") for sql in captured.sql("default"))


def test_the_decorator_routes_each_call(replica_on):
    @reading_from_replica()
    def names():
        return list(MarketingList.objects.values_list("name", flat=True))

    with Captured() as captured:
        names()
        names()
    assert len(captured.sql("replica")) == 2
    assert captured.sql("default") == []


def test_a_stream_reads_each_chunk_on_the_replica_and_leaks_nothing_between(replica_on):
    def chunks():
        for _ in range(2):
            yield replica_alias()

    streamed = streamed_from_replica(chunks())
    assert next(streamed) == "replica"
    assert replica_alias() is None  # the server's code between two chunks
    assert list(streamed) == ["replica"]


def test_closing_a_stream_early_closes_its_source(replica_on):
    closed = []

    def chunks():
        try:
            yield 1
            yield 2
        finally:
            closed.append(replica_alias())

    streamed = streamed_from_replica(chunks())
    assert next(streamed) == 1
    streamed.close()  # the client went away
    assert closed == ["replica"]


# ---------------------------------------------------------------------------------------------
# Where it is applied: the audience (API and admin), JSON counts and streamed CSV


@pytest.fixture
def newsletter_list():
    profile = ComplianceProfile.objects.filter(is_default=True).first() or (
        factories.compliance_profile(name="Default", slug="default", is_default=True)
    )
    commercial = profile.purposes.filter(kind="commercial").first() or factories.purpose(
        profile=profile, name="Commercial", kind="commercial", required_level=0
    )
    policy = factories.policy(consent_level=4)
    for n in range(3):
        contact = factories.contact(email=f"reader{n}@example.org")
        factories.consent(subject=contact, policy_obj=policy)
    factories.cp_consent(value="reader1@example.org", purpose_obj=commercial, status="opted_in")
    mlist = marketing_list_save(
        marketing_list=MarketingList(name="Everyone", list_type="dynamic", query="")
    )
    return mlist, {"channel": "email", "purpose": commercial.pk}


def audience_statements(sql: list[str]) -> list[str]:
    return [statement for statement in sql if "consent_contactpointconsent" in statement]


def csv_body(response) -> list[dict]:
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


def test_the_api_audience_reads_on_the_replica(replica_on, client_for, admin_user, newsletter_list):
    mlist, params = newsletter_list
    client = client_for(admin_user)
    url = f"/api/v1/marketing-lists/{mlist.pk}/audience/"
    with Captured() as captured:
        counts = client.get(url, params).json()
        rows = csv_body(client.get(url, {**params, "format": "csv"}))
    assert counts["recipients"] == 1
    assert [row["address"] for row in rows if row["allowed"] == "true"] == ["reader1@example.org"]
    assert len(audience_statements(captured.sql("replica"))) == 2  # JSON, then CSV
    assert audience_statements(captured.sql("default")) == []


def test_the_admin_audience_csv_reads_on_the_replica(
    replica_on, client, admin_user, newsletter_list
):
    mlist, params = newsletter_list
    client.force_login(admin_user)
    url = f"/admin/marketing_lists/marketinglist/{mlist.pk}/audience/"
    with Captured() as captured:
        rows = csv_body(client.get(url, {**params, "format": "csv"}))
    assert len(rows) == 3
    assert len(audience_statements(captured.sql("replica"))) == 1
    assert audience_statements(captured.sql("default")) == []
