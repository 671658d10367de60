from consent.services.erasure import subject_anonymize
from subjects import services as subject_services
from subjects.models import Account, Contact
from tests import factories

CONTACTS = "/api/v1/contacts/"


def contact_url(contact, action=""):
    return f"{CONTACTS}{contact.pk}/{action + '/' if action else ''}"


def ids(response):
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


def test_create_with_account_by_id_and_read_its_name(as_dpo):
    account = Account.objects.create(name="Acme")
    response = as_dpo.post(
        CONTACTS,
        {
            "first_name": "Ada",
            "last_name": "King",
            "email": "ada@acme.example.org",
            "account": account.pk,
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["account"], body["account_name"], body["state"]) == (account.pk, "Acme", "active")
    assert Contact.objects.get(pk=body["id"]).account == account


def test_unknown_account_id_is_a_field_error(as_dpo):
    response = as_dpo.post(CONTACTS, {"last_name": "King", "account": 999_999}, format="json")
    assert response.status_code == 400
    assert list(response.json()) == ["account"]
    huge = as_dpo.post(CONTACTS, {"last_name": "King", "account": 10**30}, format="json")
    assert huge.status_code == 400
    assert list(huge.json()) == ["account"]


def test_put_replaces_the_editable_fields(as_dpo, contact):
    response = as_dpo.put(
        contact_url(contact),
        {"first_name": "Augusta", "last_name": "Byron", "email": "", "allow_email": False},
        format="json",
    )
    assert response.status_code == 200, response.content
    contact.refresh_from_db()
    assert (contact.first_name, contact.last_name, contact.email) == ("Augusta", "Byron", None)
    assert contact.allow_email is False


def test_deactivate_makes_read_only_until_reactivated(as_dpo, contact):
    response = as_dpo.post(contact_url(contact, "deactivate"))
    assert response.status_code == 200
    assert response.json()["state"] == "inactive"
    refused = as_dpo.patch(contact_url(contact), {"first_name": "X"}, format="json")
    assert refused.status_code == 409
    assert refused.json() == {
        "detail": "This contact is inactive and read-only; reactivate it first."
    }
    assert as_dpo.post(contact_url(contact, "deactivate")).status_code == 409
    assert as_dpo.post(contact_url(contact, "reactivate")).json()["state"] == "active"
    assert as_dpo.patch(contact_url(contact), {"first_name": "X"}, format="json").status_code == 200


def test_anonymize_contact(as_dpo, contact):
    response = as_dpo.post(contact_url(contact, "anonymize"))
    assert response.status_code == 200, response.content
    assert response.json()["subject_type"] == "contact"
    body = as_dpo.get(contact_url(contact)).json()
    assert (body["first_name"], body["email"], body["phone"]) == ("Anonymized", None, None)
    assert body["anonymized_at"] is not None


def test_service_desk_cannot_anonymize(client_for, service_desk, contact):
    response = client_for(service_desk).post(contact_url(contact, "anonymize"))
    assert response.status_code == 403
    contact.refresh_from_db()
    assert contact.anonymized_at is None


def test_delete_is_not_allowed(as_dpo, contact):
    assert as_dpo.delete(contact_url(contact)).status_code == 405


def test_view_filter_returns_exactly_the_named_view(as_dpo):
    with_consent = factories.contact()
    factories.consent(subject=with_consent)
    without_consent = factories.contact()
    inactive = factories.contact()
    subject_services.contact_deactivate(contact=inactive)
    anonymized = factories.contact()
    subject_anonymize(subject=anonymized)

    def view(code):
        return ids(as_dpo.get(CONTACTS, {"view": code}))

    assert view("active") == {with_consent.pk, without_consent.pk}
    assert view("missing_consent") == {without_consent.pk}
    assert view("inactive") == {inactive.pk}
    assert view("anonymized") == {anonymized.pk}
    assert view("all") == {with_consent.pk, without_consent.pk, inactive.pk, anonymized.pk}


def test_dynamic_list_style_filters(as_dpo):
    """The query strings dynamic marketing lists store, e.g. `account=3&allow_bulk_email=true`."""
    acme = Account.objects.create(name="Acme")
    dormant = Account.objects.create(name="Dormant", processes_data=False)
    wanted = factories.contact(account=acme)
    factories.contact(account=acme, allow_bulk_email=False)
    elsewhere = factories.contact(account=dormant)
    high = factories.contact()
    factories.consent(subject=high, policy_obj=factories.policy(consent_level=5))

    query = f"account={acme.pk}&allow_bulk_email=true"
    assert ids(as_dpo.get(f"{CONTACTS}?{query}")) == {wanted.pk}
    assert ids(as_dpo.get(CONTACTS, {"account__processes_data": "false"})) == {elsewhere.pk}
    assert ids(as_dpo.get(CONTACTS, {"consent_level__gte": 5})) == {high.pk}
    assert ids(as_dpo.get(CONTACTS, {"consent_level": 5, "data_protection_consent": "explicit"}))
    assert ids(as_dpo.get(CONTACTS, {"email": wanted.email.upper()})) == {wanted.pk}


def test_bad_filter_values_are_400_with_a_message_per_parameter(as_dpo):
    response = as_dpo.get(
        CONTACTS,
        {
            "view": "nope",
            "allow_email": "perhaps",
            "consent_level": 9,
            "account": "abc",
            "email": "not-an-email",
            "colour": "blue",
        },
    )
    assert response.status_code == 400
    assert set(response.json()) == {
        "view",
        "allow_email",
        "consent_level",
        "account",
        "email",
        "colour",
    }
    assert response.json()["colour"] == ["Unknown filter parameter."]
    assert response.json()["allow_email"] == ["Enter true or false."]


def test_timeline_of_a_contact(as_dpo, contact):
    as_dpo.post(contact_url(contact, "deactivate"))
    entries = as_dpo.get(contact_url(contact, "timeline")).json()
    assert entries[0]["reason"] == "deactivate"
    assert entries[0]["by"] == "dpo"
    assert {"field": "state", "old": "active", "new": "inactive"} in entries[0]["changes"]
