from subjects.models import Account
from tests import factories

ACCOUNTS = "/api/v1/accounts/"


def test_create_update_and_read(as_dpo, dpo):
    created = as_dpo.post(ACCOUNTS, {"name": "Acme"}, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["name"], body["processes_data"]) == ("Acme", True)
    url = f"{ACCOUNTS}{body['id']}/"
    assert as_dpo.patch(url, {"processes_data": False}, format="json").status_code == 200
    account = Account.objects.get(pk=body["id"])
    assert account.processes_data is False
    assert account.history.first().history_user == dpo
    assert as_dpo.get(url).json()["processes_data"] is False


def test_filter_accounts_not_processing_data(as_dpo):
    Account.objects.create(name="Processing")
    dormant = Account.objects.create(name="Dormant", processes_data=False)
    rows = as_dpo.get(ACCOUNTS, {"processes_data": "false"}).json()["results"]
    assert [row["id"] for row in rows] == [dormant.pk]


def test_blank_name_is_a_field_error(as_dpo):
    response = as_dpo.post(ACCOUNTS, {"name": ""}, format="json")
    assert response.status_code == 400
    assert list(response.json()) == ["name"]


def test_delete_needs_the_delete_permission(as_dpo):
    account = Account.objects.create(name="Acme")
    assert as_dpo.delete(f"{ACCOUNTS}{account.pk}/").status_code == 403
    assert Account.objects.filter(pk=account.pk).exists()


def test_account_with_contacts_cannot_be_deleted(client_for, admin_user):
    account = Account.objects.create(name="Acme")
    factories.contact(account=account)
    response = client_for(admin_user).delete(f"{ACCOUNTS}{account.pk}/")
    assert response.status_code == 409
    assert "contacts" in response.json()["detail"]
    assert Account.objects.filter(pk=account.pk).exists()


def test_account_without_contacts_can_be_deleted(client_for, admin_user):
    account = Account.objects.create(name="Empty")
    assert client_for(admin_user).delete(f"{ACCOUNTS}{account.pk}/").status_code == 204
    assert not Account.objects.filter(pk=account.pk).exists()
    assert Account.history.filter(id=account.pk, history_type="-").get().history_user == admin_user
