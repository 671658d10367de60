"""DESIGN §4: every endpoint of the table, with its methods, as an external check probes it."""

import pytest
from django.urls import reverse

from marketing_lists.models import MarketingList
from subjects.models import Account
from tests import factories

API = "/api/v1/"

# §4 table: endpoint → operations on the collection and on one object.
CRUD = {"list": 200, "create": True, "retrieve": 200, "update": True, "delete": True}
ENDPOINTS = {
    "accounts": CRUD,
    "data-policies": CRUD,
    "compliance-profiles": CRUD,
    "purposes": CRUD,
    "topics": CRUD,
    "marketing-lists": CRUD,
    "data-consents": {"list": 200, "create": True, "retrieve": 200, "update": True, "delete": 405},
    "contact-point-consents": {"list": 200, "create": True, "retrieve": 200, "update": 405},
}


@pytest.fixture
def objects(db, policy, commercial):
    contact = factories.contact()
    profile = factories.compliance_profile()
    purpose = factories.purpose(profile=profile)
    return {
        "accounts": Account.objects.create(name="Acme"),
        "data-policies": factories.policy(),
        "compliance-profiles": profile,
        "purposes": purpose,
        "topics": factories.topic(purpose_obj=purpose),
        "marketing-lists": MarketingList.objects.create(name="Spring", member_type="contact"),
        "data-consents": factories.consent(subject=contact, policy_obj=policy),
        "contact-point-consents": factories.cp_consent(
            value=contact.email, purpose_obj=commercial, status="opted_in"
        ),
    }


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_endpoint_lists_and_retrieves_by_integer_id(as_root, objects, endpoint):
    listing = as_root.get(f"{API}{endpoint}/")
    assert listing.status_code == 200
    assert {"results", "next"} <= set(listing.json())
    obj = objects[endpoint]
    assert obj.pk in {row["id"] for row in listing.json()["results"]}
    detail = as_root.get(f"{API}{endpoint}/{obj.pk}/")
    assert (detail.status_code, detail.json()["id"]) == (200, obj.pk)


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_create_with_an_empty_body_is_a_400_with_messages_per_field(as_root, endpoint):
    response = as_root.post(f"{API}{endpoint}/", {}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert isinstance(body, dict) and body
    assert all(isinstance(messages, list) and messages for messages in body.values())


@pytest.mark.parametrize(
    "endpoint", [name for name, ops in ENDPOINTS.items() if ops.get("delete") is True]
)
def test_crud_endpoints_delete_an_unused_object(as_root, objects, endpoint):
    obj = objects[endpoint]
    assert as_root.delete(f"{API}{endpoint}/{obj.pk}/").status_code == 204
    assert as_root.get(f"{API}{endpoint}/{obj.pk}/").status_code == 404


def test_data_consents_update_but_never_delete(as_root, objects):
    consent = objects["data-consents"]
    url = f"{API}data-consents/{consent.pk}/"
    assert as_root.patch(url, {"note": "checked"}, format="json").status_code == 200
    assert as_root.delete(url).status_code == 405
    assert as_root.get(url).json()["note"] == "checked"


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_contact_point_consents_are_list_retrieve_create_only(as_root, objects, method):
    record = objects["contact-point-consents"]
    response = getattr(as_root, method)(
        f"{API}contact-point-consents/{record.pk}/", {"status": "opted_out"}, format="json"
    )
    assert response.status_code == 405
    record.refresh_from_db()
    assert record.status == "opted_in"


@pytest.mark.parametrize(
    ("endpoint", "method"),
    [
        ("consent-checks/", "get"),
        ("consent-loads/", "delete"),
        ("unsubscribe-headers/", "post"),
    ],
)
def test_methods_outside_the_table_are_405(as_root, endpoint, method):
    assert getattr(as_root, method)(f"{API}{endpoint}").status_code == 405


def test_reads_add_names_of_people_next_to_their_ids(as_root, dpo, policy):
    contact = factories.contact()
    consent = factories.consent(subject=contact, policy_obj=policy, user=dpo)
    row = as_root.get(f"{API}data-consents/{consent.pk}/").json()
    assert (row["contact"], row["policy"], row["captured_by"]) == (contact.pk, policy.pk, dpo.pk)
    assert row["contact_name"] == str(contact)
    assert row["captured_by_name"] == dpo.get_username()


def test_every_endpoint_of_the_table_is_in_the_openapi_schema(client, admin_user):
    client.force_login(admin_user)  # the schema is staff-only with DEBUG off (issue 15 #18)
    schema = client.get(reverse("api-schema"), HTTP_ACCEPT="application/json").json()
    assert schema["openapi"].startswith("3.")
    paths = schema["paths"]
    expected = {
        "/api/v1/accounts/{id}/": {"get", "put", "patch", "delete"},
        "/api/v1/leads/{id}/qualify/": {"post"},
        "/api/v1/leads/{id}/disqualify/": {"post"},
        "/api/v1/leads/{id}/reactivate/": {"post"},
        "/api/v1/leads/{id}/anonymize/": {"post"},
        "/api/v1/leads/{id}/timeline/": {"get"},
        "/api/v1/leads/{id}/access-report/": {"get"},
        "/api/v1/contacts/{id}/deactivate/": {"post"},
        "/api/v1/contacts/{id}/reactivate/": {"post"},
        "/api/v1/contacts/{id}/anonymize/": {"post"},
        "/api/v1/contacts/{id}/timeline/": {"get"},
        "/api/v1/contacts/{id}/access-report/": {"get"},
        "/api/v1/data-policies/{id}/": {"get", "put", "patch", "delete"},
        "/api/v1/data-consents/": {"get", "post"},
        "/api/v1/data-consents/{id}/cancel/": {"post"},
        "/api/v1/data-consents/{id}/reactivate/": {"post"},
        "/api/v1/compliance-profiles/{id}/": {"get", "put", "patch", "delete"},
        "/api/v1/purposes/{id}/": {"get", "put", "patch", "delete"},
        "/api/v1/topics/{id}/": {"get", "put", "patch", "delete"},
        "/api/v1/contact-point-consents/": {"get", "post"},
        "/api/v1/contact-point-consents/{id}/": {"get"},
        "/api/v1/consent-checks/": {"post"},
        "/api/v1/marketing-lists/{id}/": {"get", "put", "patch", "delete"},
        "/api/v1/marketing-lists/{id}/members/": {"post"},
        "/api/v1/marketing-lists/{id}/audience/": {"get"},
        "/api/v1/consent-loads/": {"get", "post"},
        "/api/v1/consent-loads/{id}/": {"get"},
        "/api/v1/unsubscribe-headers/": {"get"},
    }
    for path, methods in expected.items():
        assert path in paths, path
        offered = set(paths[path]) & {"get", "post", "put", "patch", "delete"}
        assert offered == methods, path


def test_the_schema_documents_every_part_of_the_access_report(client, admin_user):
    client.force_login(admin_user)
    schema = client.get(reverse("api-schema"), HTTP_ACCEPT="application/json").json()
    report = schema["components"]["schemas"]["AccessReport"]["properties"]
    assert {"subject", "data_consents", "contact_point_consents", "timeline"} <= set(report)
