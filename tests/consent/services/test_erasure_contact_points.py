"""Anonymizing a subject erases the contact-point consents of its addresses (DESIGN §3.1)."""

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError

from common.audit import Evidence
from consent.addresses import is_suppressed
from consent.models import ContactPointConsent, ErasureRecord, Suppression
from consent.services.contact_points import contact_point_consent_set
from consent.services.erasure import subject_anonymize
from tests import factories
from tests.dbdump import database_text

EMAIL = "Grace.Hopper@Navy.example"
PHONE = "+31687654321"


@pytest.fixture
def purposes(db):
    commercial = factories.purpose(name="Commercial")
    return {
        "commercial": commercial,
        "newsletter": factories.topic(purpose_obj=commercial, name="Newsletter"),
        "transactional": factories.purpose(
            profile=commercial.profile, name="Transactional", kind="transactional"
        ),
    }


def record_consents(purposes, *, user=None):
    """Opt-ins and an opt-out on every channel of the subject, with evidence and history."""
    commercial, newsletter = purposes["commercial"], purposes["newsletter"]
    for channel, value in (("email", EMAIL), ("sms", PHONE), ("voice", PHONE)):
        for status in ("opted_in", "not_set"):  # two history rows per record
            contact_point_consent_set(
                channel=channel,
                value=value,
                purpose=commercial,
                status=status,
                evidence=Evidence(
                    source="verbal",
                    requested_by=f"{value} by phone",
                    description=f"asked from {value}",
                    actor=user,
                    ip_address="192.0.2.7",
                ),
            )
    contact_point_consent_set(
        channel="email",
        value=EMAIL,
        purpose=commercial,
        topic=newsletter,
        status="opted_out",
        evidence=Evidence(source="one_click_unsubscribe"),
    )


def test_no_trace_of_the_email_or_phone_survives_anywhere(purposes, dpo):
    contact = factories.contact(email=EMAIL, phone=PHONE)
    record_consents(purposes, user=dpo)
    record = ContactPointConsent.objects.filter(channel="email").first()
    LogEntry.objects.log_actions(
        dpo.pk, [record], CHANGE, change_message=f"edited {EMAIL}", single_object=True
    )
    assert EMAIL.lower() in database_text()  # the dump does see it before

    erasure = subject_anonymize(subject=contact, user=dpo)

    dump = database_text()
    assert EMAIL.lower() not in dump
    assert PHONE not in dump
    assert PHONE.lstrip("+") not in dump
    assert not ContactPointConsent.objects.exists()
    assert not ContactPointConsent.history.exists()
    assert erasure.counts["contact_point_consents_deleted"] == 4
    assert erasure.counts["suppressions_added"] == 1


def test_an_opt_out_becomes_a_suppression_that_refuses_a_later_opt_in(purposes):
    lead = factories.lead(email=EMAIL, phone=PHONE)
    record_consents(purposes)

    subject_anonymize(subject=lead)

    assert is_suppressed("email", EMAIL.upper())
    assert not is_suppressed("sms", PHONE)  # only opt-ins and not-sets there: nothing to keep
    with pytest.raises(ValidationError) as error:
        contact_point_consent_set(
            channel="email",
            value=EMAIL,
            purpose=purposes["commercial"],
            status="opted_in",
            evidence=Evidence(source="loaded"),
        )
    assert error.value.error_dict["value"][0].code == "suppressed"
    suppression = Suppression.objects.get()
    assert "grace" not in suppression.value_hash.lower()
    assert suppression.history.get().history_type == "+"


def test_an_address_another_subject_still_uses_keeps_its_records(purposes):
    contact = factories.contact(email=EMAIL, phone=PHONE)
    factories.lead(email=EMAIL.upper(), phone=None)
    record_consents(purposes)
    before = ContactPointConsent.objects.filter(channel="email").count()

    erasure = subject_anonymize(subject=contact)

    assert ContactPointConsent.objects.filter(channel="email").count() == before
    assert ContactPointConsent.history.filter(channel="email").exists()
    assert not ContactPointConsent.objects.filter(channel__in=["sms", "voice"]).exists()
    assert not Suppression.objects.filter(channel="email").exists()
    assert erasure.counts["contact_point_addresses_kept"] == 1


def test_an_anonymized_subject_no_longer_keeps_an_address(purposes):
    first = factories.contact(email=EMAIL, phone=None)
    second = factories.lead(email=EMAIL, phone=None)
    record_consents(purposes)

    assert subject_anonymize(subject=first).counts["contact_point_consents_deleted"] == 0
    erasure = subject_anonymize(subject=second)

    assert erasure.counts["contact_point_consents_deleted"] == 2
    assert not ContactPointConsent.objects.filter(channel="email").exists()
    assert ContactPointConsent.objects.filter(channel="sms").exists()  # nobody's phone


def test_the_erasure_record_holds_counts_only(purposes):
    contact = factories.contact(email=EMAIL, phone=PHONE)
    record_consents(purposes)
    subject_anonymize(subject=contact)
    erasure = ErasureRecord.objects.get()
    assert set(erasure.counts) >= {
        "contact_point_consents_deleted",
        "suppressions_added",
        "contact_point_addresses_kept",
    }
    assert all(isinstance(count, int) for count in erasure.counts.values())


def test_admin_log_entries_of_erased_records_are_scrubbed(purposes, dpo):
    contact = factories.contact(email=EMAIL, phone=PHONE)
    record_consents(purposes)
    records = list(ContactPointConsent.objects.all())
    LogEntry.objects.log_actions(dpo.pk, records, CHANGE, change_message="changed")
    subject_anonymize(subject=contact)
    entries = LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(ContactPointConsent)
    )
    assert entries.count() == len(records)
    assert set(entries.values_list("object_repr", flat=True)) == {"Anonymized"}
