from consent.models import DataPolicy
from tests import factories

POLICIES = "/api/v1/data-policies/"


def test_create_and_edit_a_policy(as_dpo, dpo):
    response = as_dpo.post(
        POLICIES,
        {
            "name": "Newsletter",
            "consent_level": 3,
            "validity_days": 730,
            "legal_basis": "consent",
            "notice_url": "https://example.org/privacy",
            "notice_version": "2024-01",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    policy = DataPolicy.objects.get(pk=response.json()["id"])
    assert (policy.consent_level, policy.validity_days) == (3, 730)
    assert policy.history.first().history_user == dpo
    url = f"{POLICIES}{policy.pk}/"
    assert as_dpo.patch(url, {"active": False}, format="json").json()["active"] is False


def test_invalid_policy_fields(as_dpo, policy):
    response = as_dpo.post(
        POLICIES,
        {
            "name": policy.name,
            "consent_level": 6,
            "validity_days": -1,
            "legal_basis": "whim",
            "notice_url": "not a url",
        },
        format="json",
    )
    assert response.status_code == 400
    assert set(response.json()) == {
        "name",
        "consent_level",
        "validity_days",
        "legal_basis",
        "notice_url",
    }


def test_filters(as_dpo):
    newsletter = factories.policy(name="Newsletter", consent_level=3)
    factories.policy(name="Profiling", consent_level=5, active=False)
    rows = as_dpo.get(POLICIES, {"active": "true", "consent_level__lte": 3}).json()["results"]
    assert [row["id"] for row in rows] == [newsletter.pk]


def test_policy_in_use_cannot_be_deleted(client_for, admin_user, contact, policy):
    factories.consent(subject=contact, policy_obj=policy)
    response = client_for(admin_user).delete(f"{POLICIES}{policy.pk}/")
    assert response.status_code == 409
    assert "set active to false" in response.json()["detail"]
    assert DataPolicy.objects.filter(pk=policy.pk).exists()


def test_unused_policy_can_be_deleted_with_the_permission(client_for, admin_user, dpo, policy):
    assert client_for(dpo).delete(f"{POLICIES}{policy.pk}/").status_code == 403
    assert client_for(admin_user).delete(f"{POLICIES}{policy.pk}/").status_code == 204
    assert not DataPolicy.objects.filter(pk=policy.pk).exists()


def test_marketer_reads_but_cannot_write(client_for, marketer, policy):
    client = client_for(marketer)
    assert client.get(f"{POLICIES}{policy.pk}/").json()["name"] == policy.name
    response = client.patch(f"{POLICIES}{policy.pk}/", {"active": False}, format="json")
    assert response.status_code == 403
