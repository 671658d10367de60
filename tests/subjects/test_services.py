import pytest
from django.core.exceptions import ValidationError

from consent.services.subjects import lead_qualify, subject_update
from subjects import services as subject_services
from subjects.models import PREFERENCE_FIELDS, Contact, Lead
from subjects.services import SubjectReadOnlyError, subject_create
from tests import factories


def test_create_normalizes_email_and_phone(db):
    contact = subject_create(
        model=Contact,
        data={"last_name": "Hopper", "email": " Grace@Navy.MIL ", "phone": "06 1234 5678"},
    )
    assert contact.email == "Grace@navy.mil"
    assert contact.phone == "+31612345678"


@pytest.mark.parametrize(("field", "value"), [("email", "not-an-email"), ("phone", "123")])
def test_invalid_address_is_a_field_error_and_nothing_is_written(db, field, value):
    with pytest.raises(ValidationError) as excinfo:
        subject_create(model=Contact, data={"last_name": "X", field: value})
    assert field in excinfo.value.message_dict
    assert not Contact.objects.exists()


def test_unknown_field_is_refused(db):
    with pytest.raises(ValidationError) as excinfo:
        subject_create(model=Lead, data={"last_name": "X", "consent_level": 5})
    assert "consent_level" in excinfo.value.message_dict


def test_new_restricted_subject_is_restrict_with_every_preference_off(db):
    lead = factories.lead(restricted=True)
    assert lead.data_protection_consent == "restrict"
    assert not any(getattr(lead, name) for name in PREFERENCE_FIELDS)


def test_new_subject_with_inherent_basis_is_inherent(db):
    assert factories.contact(inherent_basis=True).data_protection_consent == "inherent"
    assert factories.contact().data_protection_consent == "none"


def test_disqualify_then_reactivate_lead(lead):
    subject_services.lead_disqualify(lead=lead)
    assert Lead.objects.get(pk=lead.pk).status == "disqualified"
    subject_services.lead_reactivate(lead=lead)
    assert Lead.objects.get(pk=lead.pk).status == "open"


def test_cannot_disqualify_a_qualified_lead(lead):
    lead_qualify(lead=lead)
    with pytest.raises(ValidationError):
        subject_services.lead_disqualify(lead=Lead.objects.get(pk=lead.pk))


def test_qualified_and_disqualified_leads_are_read_only_until_reactivated(lead):
    subject_services.lead_disqualify(lead=lead)
    with pytest.raises(SubjectReadOnlyError):
        subject_update(subject=lead, data={"first_name": "New"})
    subject_services.lead_reactivate(lead=lead)
    subject_update(subject=lead, data={"first_name": "New"})
    assert Lead.objects.get(pk=lead.pk).first_name == "New"


def test_inactive_contact_is_read_only_and_keeps_its_consents(contact, policy):
    consent = factories.consent(subject=contact, policy_obj=policy)
    subject_services.contact_deactivate(contact=contact)
    contact.refresh_from_db()
    assert contact.state == "inactive"
    assert contact.is_read_only
    with pytest.raises(SubjectReadOnlyError):
        subject_update(subject=contact, data={"allow_email": False})
    consent.refresh_from_db()
    assert consent.state == "active"
    subject_services.contact_reactivate(contact=contact)
    assert Contact.objects.get(pk=contact.pk).state == "active"


def test_update_records_history_with_user_source_and_reason(contact, admin_user):
    subject_update(
        subject=contact,
        data={"allow_sms": False},
        user=admin_user,
        source="verbal",
        reason="asked by phone",
    )
    row = contact.history.latest()
    assert (row.history_user, row.history_source, row.history_change_reason) == (
        admin_user,
        "verbal",
        "asked by phone",
    )
    assert row.allow_sms is False
