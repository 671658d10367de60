"""`reconsent/` (DESIGN §3.9): outdated opt-ins of a profile and consents of a policy, JSON
(paginated) and CSV."""

import csv
import io

import pytest

from common.audit import Source
from consent.services.notices import notice_create, notice_publish
from tests import factories

pytestmark = pytest.mark.django_db

URL = "/api/v1/reconsent/"


def publish(owner, version):
    key = "profile" if owner._meta.model_name == "complianceprofile" else "policy"
    notice = notice_create(
        data={key: owner, "version": version, "title": "t", "text": version, "material": True},
        user=None,
        source=Source.INTERNAL,
    )
    notice_publish(notice, user=None, source=Source.INTERNAL)
    owner.refresh_from_db()


@pytest.fixture
def world():
    profile = factories.compliance_profile(notice_version="1")
    purpose = factories.purpose(profile=profile)
    for name in ("bob", "ada"):
        factories.cp_consent(value=f"{name}@example.org", purpose_obj=purpose, status="opted_in")
    publish(profile, "2")
    purpose.refresh_from_db()
    factories.cp_consent(value="new@example.org", purpose_obj=purpose, status="opted_in")
    return profile, purpose


def test_lists_outdated_opt_ins_by_address(as_dpo, world):
    profile, purpose = world
    response = as_dpo.get(URL, {"profile": profile.pk, "purpose": purpose.pk})
    assert response.status_code == 200, response.content
    rows = response.json()["results"]
    assert [row["address"] for row in rows] == ["ada@example.org", "bob@example.org"]
    assert {(row["notice_version"], row["current_version"]) for row in rows} == {("1", "2")}


def test_pages(as_dpo, world):
    profile, _ = world
    first = as_dpo.get(URL, {"profile": profile.pk, "page_size": 1}).json()
    assert len(first["results"]) == 1 and first["next"]


def test_csv(as_dpo, world):
    profile, _ = world
    response = as_dpo.get(URL, {"profile": profile.pk, "format": "csv"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [row["address"] for row in rows] == ["ada@example.org", "bob@example.org"]


def test_data_consents_of_a_policy(as_dpo):
    policy = factories.policy(notice_version="v1")
    old = factories.consent(subject=factories.contact(email="old@example.org"), policy_obj=policy)
    publish(policy, "v2")
    factories.consent(subject=factories.contact(), policy_obj=policy)
    rows = as_dpo.get(URL, {"policy": policy.pk}).json()["results"]
    assert [(row["id"], row["address"]) for row in rows] == [(old.pk, "old@example.org")]


def test_needs_exactly_one_of_profile_and_policy(as_dpo, world, policy):
    profile, _ = world
    assert as_dpo.get(URL).status_code == 400
    assert as_dpo.get(URL, {"profile": profile.pk, "policy": policy.pk}).status_code == 400
    other = factories.purpose()
    assert as_dpo.get(URL, {"profile": profile.pk, "purpose": other.pk}).status_code == 400


def test_anonymous_is_refused(client_for, world):
    profile, _ = world
    assert client_for().get(URL, {"profile": profile.pk}).status_code in (401, 403)
