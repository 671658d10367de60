import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError

from consent.models import DataConsent, ErasureRecord
from consent.services.data_consents import data_consent_cancel, data_consent_reactivate
from consent.services.erasure import subject_anonymize
from consent.services.subjects import lead_qualify, subject_update
from subjects.models import Contact, Lead
from tests import factories
from tests.dbdump import database_text


@pytest.fixture
def named_contact(db):
    contact = factories.contact(
        first_name="Zebedee",
        last_name="Quixotic",
        email="Zebedee.Q@Unique-Mail.example",
        phone="+31687654321",
    )
    subject_update(subject=contact, data={"last_name": "Quixotic-Smith"})
    return contact


def test_anonymized_contact_leaves_no_pii_in_any_table(named_contact, policy, admin_user):
    factories.consent(
        subject=named_contact,
        policy_obj=policy,
        note="Zebedee asked by phone",
        ip_address="198.51.100.23",
        user_agent="Zebedee's phone",
    )
    LogEntry.objects.log_actions(
        user_id=admin_user.pk,
        queryset=[named_contact],
        action_flag=CHANGE,
        change_message="Changed email of Zebedee",
    )
    assert "zebedee.q@unique-mail.example" in database_text()

    subject_anonymize(subject=named_contact, user=admin_user)

    dump = database_text()
    for secret in ("zebedee", "quixotic", "unique-mail.example", "31687654321", "198.51.100.23"):
        assert secret not in dump, secret


def test_anonymize_scrubs_fields_and_deactivates_every_consent(named_contact, policy, admin_user):
    active = factories.consent(subject=named_contact, policy_obj=policy)
    cancelled = factories.consent(subject=named_contact, policy_obj=policy)
    data_consent_cancel(consent=cancelled)

    record = subject_anonymize(subject=named_contact, user=admin_user)

    contact = Contact.objects.get(pk=named_contact.pk)
    assert (contact.first_name, contact.last_name, contact.email, contact.phone) == (
        "Anonymized",
        "Anonymized",
        None,
        None,
    )
    assert contact.anonymized_at is not None
    assert set(
        DataConsent.objects.filter(pk__in=[active.pk, cancelled.pk]).values_list(
            "state", "status_reason"
        )
    ) == {("inactive", "anonymized")}
    assert (record.subject_type, record.subject_id, record.erased_by) == (
        "contact",
        contact.pk,
        admin_user,
    )
    assert record.counts["data_consents_anonymized"] == 2
    assert ErasureRecord.objects.count() == 1


def test_anonymized_consent_can_never_be_reactivated(named_contact, policy):
    consent = factories.consent(subject=named_contact, policy_obj=policy)
    subject_anonymize(subject=named_contact)
    with pytest.raises(ValidationError):
        data_consent_reactivate(consent=consent)


def test_anonymized_subject_is_read_only_for_ever(named_contact):
    subject_anonymize(subject=named_contact)
    contact = Contact.objects.get(pk=named_contact.pk)
    with pytest.raises(ValidationError):
        subject_update(subject=contact, data={"first_name": "Back"})
    with pytest.raises(ValidationError):
        subject_anonymize(subject=contact)
    from subjects.services import contact_reactivate

    with pytest.raises(ValidationError):
        contact_reactivate(contact=contact)


def test_anonymizing_a_converted_lead_keeps_the_shared_consent_for_the_contact(policy):
    lead = factories.lead()
    consent = factories.consent(subject=lead, policy_obj=policy)
    contact = lead_qualify(lead=lead, convert=True)

    record = subject_anonymize(subject=Lead.objects.get(pk=lead.pk))

    consent.refresh_from_db()
    assert (consent.lead, consent.contact, consent.state) == (None, contact, "active")
    assert (record.counts["data_consents_anonymized"], record.counts["data_consents_unlinked"]) == (
        0,
        1,
    )
    assert Contact.objects.get(pk=contact.pk).consent_level == 4


def test_anonymized_lead_history_is_scrubbed(db):
    lead = factories.lead(first_name="Wilhelmina", email="wilhelmina@example.org")
    subject_anonymize(subject=lead)
    assert not Lead.history.filter(first_name="Wilhelmina").exists()
    assert not Lead.history.filter(email__isnull=False).exists()
    assert ContentType.objects.get_for_model(Lead)  # sanity: content types intact
