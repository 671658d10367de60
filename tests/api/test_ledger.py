"""`GET /api/v1/ledger/verify/` (consent/api/ledger.py): the DPO's, nobody else's."""

import pytest

from consent.models import LedgerEntry, LedgerHead
from tests import factories
from tests.consent.ledger.helpers import raw, table

pytestmark = pytest.mark.django_db
URL = "/api/v1/ledger/verify/"


def test_the_dpo_verifies_the_chain(as_dpo):
    factories.contact()
    response = as_dpo.get(URL)

    assert response.status_code == 200
    head = LedgerHead.objects.get()
    assert response.json() == {
        "ok": True,
        "entries": head.sequence,
        "head": {"sequence": head.sequence, "hash": head.hash},
        "first_bad_entry": None,
    }


def test_the_dpo_sees_where_the_chain_breaks(as_dpo):
    factories.contact()
    factories.contact()
    raw(f"DELETE FROM {table(LedgerEntry)} WHERE sequence = 1")

    body = as_dpo.get(URL).json()
    assert (body["ok"], body["first_bad_entry"]) == (False, 1)


@pytest.mark.parametrize("role", ["marketer", "service_desk"])
def test_other_roles_are_refused(request, client_for, role):
    assert client_for(request.getfixturevalue(role)).get(URL).status_code == 403


def test_anonymous_callers_are_refused(client_for):
    assert client_for().get(URL).status_code in (401, 403)


def test_the_permission_alone_grants_it(client_for, make_user):
    auditor = make_user("auditor", perms=["consent.verify_ledger"])
    assert client_for(auditor).get(URL).json()["ok"] is True
