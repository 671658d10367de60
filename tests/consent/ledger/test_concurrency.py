"""32 concurrent writers on PostgreSQL (real threads, a connection each) keep one valid chain:
no fork (every sequence once), no row sealed twice, none left unsealed."""

import pytest
from django.db import connection

from common.audit import Evidence
from consent.ledger.verify import ledger_verify
from consent.models import ComplianceProfile, ContactPointConsent, LedgerEntry, LedgerHead
from consent.services.contact_points import contact_point_consent_set
from tests import factories
from tests.consent.ledger.helpers import unsealed_rows
from tests.security.conftest import run_together

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS = 32
CALLS = 10


def test_concurrent_writers_keep_the_chain_intact():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: row locks and truly concurrent connections")
    # A transactional database may have been flushed of the fresh-install profile.
    profile = ComplianceProfile.objects.filter(is_default=True).first() or (
        factories.compliance_profile(name="Default", slug="default", is_default=True)
    )
    commercial = profile.purposes.filter(name="Commercial").first() or factories.purpose(
        profile=profile, name="Commercial", kind="commercial", required_level=0
    )
    LedgerHead.objects.get_or_create(pk=1)  # as migrated (a flushed test database lost it)
    before = LedgerEntry.objects.count()

    def work(n: int) -> int:
        for i in range(CALLS):
            contact_point_consent_set(
                channel="email",
                value=f"writer{n}@example.org",  # distinct addresses: no address lock shared
                purpose=commercial,
                status="opted_in" if i % 2 == 0 else "opted_out",
                evidence=Evidence(source="api", reason=f"call {i}"),
            )
        return CALLS

    results = run_together(THREADS, work)

    assert [r for r in results if isinstance(r, Exception)] == []
    assert ContactPointConsent.history.count() == THREADS * CALLS
    assert LedgerEntry.objects.count() - before == THREADS * CALLS
    sequences = list(LedgerEntry.objects.values_list("sequence", flat=True))
    assert sequences == list(range(1, len(sequences) + 1))
    assert unsealed_rows() == 0
    result = ledger_verify()
    assert (result["ok"], result["entries"]) == (True, len(sequences))
