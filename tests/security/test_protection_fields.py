"""`restricted` and the inherent basis are manual DPO fields (DESIGN §3.1): other roles see them
but cannot change them — not in the admin, not through the API, not by calling the service."""

import pytest
from django.core.exceptions import ValidationError
from rest_framework.test import APIClient

from consent.services.subjects import subject_update
from subjects.models import Contact, DataProtectionConsent, Lead
from subjects.services import SYSTEM, subject_create
from tests import factories


def api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.mark.parametrize("role", ["marketer", "service_desk"])
@pytest.mark.parametrize("field,value", [("restricted", True), ("inherent_basis", True)])
def test_api_refuses_protection_changes_from_other_roles(request, role, field, value):
    user = request.getfixturevalue(role)
    contact = factories.contact(email="ada@example.org")

    response = api(user).patch(f"/api/v1/contacts/{contact.pk}/", {field: value}, format="json")

    assert response.status_code == 400, response.content
    assert response.json() == {field: ["Only a data protection officer may change this field."]}
    contact.refresh_from_db()
    assert getattr(contact, field) is False
    assert contact.history.count() == 1  # only the creation: nothing written


def test_other_roles_still_edit_the_rest_and_may_resend_unchanged_values(service_desk):
    contact = factories.contact(email="ada@example.org")

    response = api(service_desk).patch(
        f"/api/v1/contacts/{contact.pk}/",
        {"first_name": "Ada", "restricted": False, "inherent_basis_note": ""},
        format="json",
    )

    assert response.status_code == 200, response.content
    contact.refresh_from_db()
    assert contact.first_name == "Ada"


def test_service_desk_cannot_create_a_restricted_lead(service_desk):
    response = api(service_desk).post(
        "/api/v1/leads/", {"last_name": "King", "restricted": True}, format="json"
    )

    assert response.status_code == 400
    assert list(response.json()) == ["restricted"]
    assert not Lead.objects.filter(last_name="King").exists()


def test_dpo_restricts_a_contact_through_the_api(dpo):
    contact = factories.contact(email="ada@example.org")

    response = api(dpo).patch(
        f"/api/v1/contacts/{contact.pk}/", {"restricted": True}, format="json"
    )

    assert response.status_code == 200, response.content
    contact.refresh_from_db()
    assert contact.restricted is True
    assert contact.data_protection_consent == DataProtectionConsent.RESTRICT
    latest = contact.history.first()
    assert (latest.history_user, latest.history_source) == (dpo, "api")


def test_the_service_enforces_the_permission_for_every_caller(marketer, dpo):
    lead = subject_create(model=Lead, data={"last_name": "King"}, user=dpo)

    with pytest.raises(ValidationError) as refused:
        subject_update(subject=lead, data={"inherent_basis": True}, user=marketer)
    assert refused.value.message_dict == {
        "inherent_basis": ["Only a data protection officer may change this field."]
    }

    # A caller that names nobody is refused too (fail closed); the named system and the DPO may.
    with pytest.raises(ValidationError):
        subject_update(subject=lead, data={"inherent_basis": True}, user=None)
    subject_update(subject=lead, data={"inherent_basis": True}, user=SYSTEM)
    lead.refresh_from_db()
    assert lead.inherent_basis is True
    subject_update(subject=lead, data={"restricted": True}, user=dpo)
    lead.refresh_from_db()
    assert lead.restricted is True
    assert lead.history.order_by("-history_id").first().history_user == dpo


def test_admin_shows_protection_fields_read_only_to_other_roles(client, marketer, dpo):
    contact = factories.contact(email="ada@example.org")
    url = f"/admin/subjects/contact/{contact.pk}/change/"

    client.force_login(marketer)
    page = client.get(url).content.decode()
    assert 'name="first_name"' in page
    assert 'name="restricted"' not in page and 'name="inherent_basis"' not in page

    client.force_login(dpo)
    page = client.get(url).content.decode()
    assert 'name="restricted"' in page and 'name="inherent_basis"' in page


def test_admin_post_from_other_role_cannot_restrict(client, marketer):
    contact = factories.contact(email="ada@example.org", first_name="Ada", last_name="King")
    client.force_login(marketer)
    form = client.get(f"/admin/subjects/contact/{contact.pk}/change/").context["adminform"].form
    data = {
        name: value
        for name, value in form.initial.items()
        if value is not None and not isinstance(value, bool)
    }
    data.update(first_name="Adeline", restricted="on", inherent_basis="on")
    data.update({"data_consents-TOTAL_FORMS": "0", "data_consents-INITIAL_FORMS": "0"})

    response = client.post(f"/admin/subjects/contact/{contact.pk}/change/", data)

    assert response.status_code == 302, response.context and response.context["errors"]
    contact.refresh_from_db()
    assert contact.first_name == "Adeline"
    assert (contact.restricted, contact.inherent_basis) == (False, False)
    assert Contact.objects.filter(restricted=True).count() == 0
