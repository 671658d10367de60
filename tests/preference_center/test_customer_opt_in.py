"""consent.customer: a customer's own choices, and the subject-level consent they imply."""

import pytest
from django.core.exceptions import ValidationError

from common.audit import Evidence
from consent.models import ContactPointConsent, DataConsent
from consent.services.contact_points import suppression_add
from consent.services.customer import Choice, customer_choices_record
from consent.services.data_consents import data_consent_cancel
from consent.services.erasure import subject_anonymize
from subjects import services as subject_services
from subjects.models import Lead
from tests import factories
from tests.preference_center.conftest import row_counts

pytestmark = pytest.mark.django_db
ADDRESS = "shared@example.org"
OPTED_IN, OPTED_OUT = ContactPointConsent.Status.OPTED_IN, ContactPointConsent.Status.OPTED_OUT


def record(profile, purpose, status=OPTED_IN, *, create_lead=False, value=ADDRESS, topic=None):
    return customer_choices_record(
        profile=profile,
        channel="email",
        value=value,
        choices=[Choice(purpose, topic, status)],
        create_lead=create_lead,
        evidence=Evidence(
            source="preference_center", ip_address="192.0.2.1", user_agent="UA", reason="test"
        ),
    )


def test_every_subject_with_the_address_gets_the_data_consent(profile, newsletter):
    contact = factories.contact(email="Shared@Example.org")
    lead = factories.lead(email=ADDRESS)
    result = record(profile, newsletter)
    assert len(result.data_consents) == 2
    for subject in (contact, lead):
        consent = DataConsent.objects.for_subject(subject).get()
        assert consent.policy == profile.data_policy
        assert (consent.source, consent.ip_address, consent.user_agent) == (
            "preference_center",
            "192.0.2.1",
            "UA",
        )
        assert consent.notice_version == "n3"
        subject.refresh_from_db()
        assert subject.consent_level == 4
    assert result.lead is None  # subjects exist: no new lead even when asked
    assert not Lead.objects.exclude(pk=lead.pk).filter(email=ADDRESS).exists()


def test_an_active_consent_at_that_level_or_higher_is_enough(profile, newsletter):
    higher = factories.contact(email=ADDRESS)
    factories.consent(subject=higher, policy_obj=factories.policy(consent_level=5))
    lower = factories.lead(email=ADDRESS)
    factories.consent(subject=lower, policy_obj=factories.policy(consent_level=3))
    cancelled = factories.contact(email=ADDRESS)
    data_consent_cancel(
        consent=factories.consent(subject=cancelled, policy_obj=factories.policy(consent_level=4))
    )
    record(profile, newsletter)
    assert DataConsent.objects.for_subject(higher).count() == 1
    assert DataConsent.objects.for_subject(lower).filter(policy=profile.data_policy).exists()
    assert (
        DataConsent.objects.for_subject(cancelled)
        .active()
        .filter(policy=profile.data_policy)
        .exists()
    )


def test_anonymized_and_read_only_subjects_are_left_alone(profile, newsletter):
    disqualified = factories.lead(email=ADDRESS)
    subject_services.lead_disqualify(lead=disqualified)
    erased = factories.contact(email=ADDRESS)
    subject_anonymize(subject=erased)
    record(profile, newsletter)
    assert not DataConsent.objects.filter(policy=profile.data_policy).exists()


def test_opt_outs_never_touch_data_consents(profile, newsletter):
    factories.contact(email=ADDRESS)
    record(profile, newsletter, OPTED_OUT, create_lead=True)
    assert not DataConsent.objects.filter(policy=profile.data_policy).exists()
    assert not Lead.objects.filter(email=ADDRESS).exists()


def test_a_lead_is_created_only_when_asked_and_no_subject_holds_the_address(profile, newsletter):
    record(profile, newsletter, value="first@example.org")
    assert not Lead.objects.filter(email="first@example.org").exists()
    result = record(profile, newsletter, value="second@example.org", create_lead=True)
    assert result.lead is not None
    assert (result.lead.status, result.lead.source, result.lead.last_name) == (
        "open",
        "preference_center",
        "second",
    )
    assert result.data_consents[0].lead == result.lead


def test_without_a_data_policy_only_the_contact_point_is_recorded(profile, newsletter):
    profile.data_policy = None
    profile.save()
    contact = factories.contact(email=ADDRESS)
    result = record(profile, newsletter, create_lead=True)
    assert result.changed == 1
    assert result.data_consents == [] and result.lead is None
    assert not DataConsent.objects.for_subject(contact).exists()


def test_a_suppressed_address_is_refused_before_anything_is_written(profile, newsletter, offers):
    suppression_add(channel="email", value=ADDRESS)
    before = row_counts()
    with pytest.raises(ValidationError) as caught:
        customer_choices_record(
            profile=profile,
            channel="email",
            value=ADDRESS,
            choices=[Choice(offers, None, OPTED_OUT), Choice(newsletter, None, OPTED_IN)],
            evidence=Evidence(source="form"),
        )
    assert caught.value.error_dict["value"][0].code == "suppressed"
    assert row_counts() == before


def test_choices_must_belong_to_the_profile(profile, newsletter):
    elsewhere = factories.purpose()
    with pytest.raises(ValidationError):
        record(profile, elsewhere)
    with pytest.raises(ValidationError):
        record(profile, newsletter, topic=factories.topic())
