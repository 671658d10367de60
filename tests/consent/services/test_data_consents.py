from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.utils import timezone

from common.audit import Evidence
from consent.models import ConsentLevelSubstatus, DataConsent
from consent.services.data_consents import (
    data_consent_cancel,
    data_consent_create,
    data_consent_reactivate,
    data_consent_update,
    data_consents_expire,
)
from consent.services.subjects import lead_qualify, subject_update
from subjects.models import PREFERENCE_FIELDS, Contact, Lead
from subjects.services import SYSTEM
from tests import factories


def refreshed(obj):
    obj.refresh_from_db()
    return obj


def test_consent_level_is_copied_at_insert_and_ignores_later_policy_edits(contact, policy):
    consent = factories.consent(subject=contact, policy_obj=policy)
    policy.consent_level = 1
    policy.save()
    assert refreshed(consent).consent_level == 4


def test_valid_until_defaults_from_policy_validity(contact):
    given = timezone.now() - timedelta(days=10)
    consent = factories.consent(
        subject=contact, policy_obj=factories.policy(validity_days=30), given_at=given
    )
    assert consent.valid_until == (given + timedelta(days=30)).date()
    endless = factories.consent(subject=contact, policy_obj=factories.policy(validity_days=None))
    assert endless.valid_until is None


def test_derived_fields_follow_active_consents(contact):
    low = factories.consent(
        subject=contact, policy_obj=factories.policy(consent_level=2, validity_days=10)
    )
    high = factories.consent(
        subject=contact, policy_obj=factories.policy(consent_level=5, validity_days=100)
    )
    contact = refreshed(contact)
    assert contact.consent_level == 5
    assert contact.max_expiry_date == high.valid_until
    assert contact.data_protection_consent == "explicit"

    data_consent_cancel(consent=high)
    contact = refreshed(contact)
    assert (contact.consent_level, contact.max_expiry_date) == (2, low.valid_until)

    data_consent_cancel(consent=low)
    contact = refreshed(contact)
    assert contact.consent_level == 0
    assert contact.max_expiry_date is None
    assert contact.data_protection_consent == "restrict"


def test_becoming_restrict_turns_every_preference_off_and_they_stay_off(contact, policy):
    consent = factories.consent(subject=contact, policy_obj=policy)
    data_consent_cancel(consent=consent)
    contact = refreshed(contact)
    assert not any(getattr(contact, name) for name in PREFERENCE_FIELDS)
    assert contact.history.latest().history_change_reason == "data consent cancelled"

    data_consent_reactivate(consent=consent)
    contact = refreshed(contact)
    assert contact.data_protection_consent == "explicit"
    assert not any(getattr(contact, name) for name in PREFERENCE_FIELDS)


def test_restricted_wins_over_explicit_consent(contact, policy):
    factories.consent(subject=contact, policy_obj=policy)
    subject_update(subject=refreshed(contact), data={"restricted": True}, user=SYSTEM)
    assert refreshed(contact).data_protection_consent == "restrict"


def test_inherent_basis_applies_only_without_active_consent(policy):
    contact = factories.contact(inherent_basis=True)
    consent = factories.consent(subject=contact, policy_obj=policy)
    assert refreshed(contact).data_protection_consent == "explicit"
    data_consent_cancel(consent=consent)
    assert refreshed(contact).data_protection_consent == "inherent"


def test_only_cancelled_consents_can_be_reactivated(contact, policy):
    consent = factories.consent(subject=contact, policy_obj=policy)
    with pytest.raises(ValidationError):
        data_consent_reactivate(consent=consent)  # still active
    data_consent_cancel(consent=consent)
    with pytest.raises(ValidationError):
        data_consent_cancel(consent=consent)  # already inactive
    data_consent_reactivate(consent=consent)
    assert refreshed(consent).state == "active"


def test_expired_consent_cannot_be_reactivated(contact):
    consent = factories.consent(subject=contact, policy_obj=factories.policy(validity_days=5))
    with time_machine.travel(timezone.now() + timedelta(days=10)):
        assert data_consents_expire() == 1
        with pytest.raises(ValidationError, match="expired"):
            data_consent_reactivate(consent=consent)
    assert refreshed(consent).status_reason == "expired"


def test_cancelled_consent_past_valid_until_cannot_be_reactivated(contact):
    consent = factories.consent(subject=contact, policy_obj=factories.policy(validity_days=5))
    data_consent_cancel(consent=consent)
    with (
        time_machine.travel(timezone.now() + timedelta(days=10)),
        pytest.raises(ValidationError, match="expired on"),
    ):
        data_consent_reactivate(consent=consent)
    assert refreshed(consent).status_reason == "cancelled"


def test_substatus_must_belong_to_the_consent_level(contact, policy):
    wrong = ConsentLevelSubstatus.objects.create(level=3, name="Digest")
    with pytest.raises(ValidationError) as excinfo:
        factories.consent(subject=contact, policy_obj=policy, substatus=wrong)
    assert "substatus" in excinfo.value.message_dict
    right = ConsentLevelSubstatus.objects.create(level=4, name="Events only")
    assert factories.consent(subject=contact, policy_obj=policy, substatus=right).substatus == right


def test_consent_needs_a_subject(policy):
    with pytest.raises(ValidationError):
        data_consent_create(policy=policy, evidence=Evidence(source="internal"))


def test_consent_for_read_only_subject_is_refused(lead, policy):
    lead_qualify(lead=lead)
    with pytest.raises(ValidationError):
        factories.consent(subject=refreshed(lead), policy_obj=policy)


def test_confidential_consent_needs_a_specific_owner(contact, policy, admin_user):
    with pytest.raises(ValidationError) as excinfo:
        factories.consent(subject=contact, policy_obj=policy, confidential=True, user=admin_user)
    assert "owner_user" in excinfo.value.message_dict
    assert not DataConsent.objects.exists()


def test_marking_confidential_clears_the_owner_unless_one_is_given(
    contact, policy, admin_user, dpo
):
    consent = factories.consent(subject=contact, policy_obj=policy, user=admin_user)
    assert consent.owner_user == admin_user
    with pytest.raises(ValidationError):
        data_consent_update(consent=consent, data={"confidential": True})
    assert refreshed(consent).confidential is False
    data_consent_update(consent=consent, data={"confidential": True, "owner_user": dpo})
    consent = refreshed(consent)
    assert (consent.confidential, consent.owner_user) == (True, dpo)


def test_confidential_consent_is_visible_only_to_owner_team_and_dpo(
    contact, policy, make_user, dpo, marketer
):
    team = Group.objects.create(name="Legal")
    owner = make_user("owner")
    member = make_user("member")
    member.groups.add(team)
    outsider = make_user("outsider", perms=["consent.view_dataconsent"])
    by_user = factories.consent(
        subject=contact, policy_obj=policy, confidential=True, owner_user=owner
    )
    by_team = factories.consent(
        subject=contact, policy_obj=policy, confidential=True, owner_team=team
    )
    public = factories.consent(subject=contact, policy_obj=policy)

    def visible(user):
        return set(DataConsent.objects.visible_to(user))

    assert visible(owner) == {by_user, public}
    assert visible(member) == {by_team, public}
    assert visible(outsider) == {public}
    assert visible(marketer) == {public}
    assert visible(dpo) == {by_user, by_team, public}
    # Counts and derived fields still include confidential consents.
    assert refreshed(contact).consent_level == 4
    assert DataConsent.objects.for_subject(contact).count() == 3


def test_qualify_with_convert_links_active_consents_to_the_new_contact(lead, policy, admin_user):
    active = factories.consent(subject=lead, policy_obj=policy)
    cancelled = factories.consent(subject=lead, policy_obj=policy)
    data_consent_cancel(consent=cancelled)

    contact = lead_qualify(lead=lead, convert=True, user=admin_user)

    lead = refreshed(lead)
    assert lead.status == "qualified" and lead.converted_contact == contact
    assert (contact.email, contact.last_name) == (lead.email, lead.last_name)
    active, cancelled = refreshed(active), refreshed(cancelled)
    assert (active.lead, active.contact) == (lead, contact)
    assert cancelled.contact is None
    assert contact.consent_level == 4
    assert refreshed(contact).data_protection_consent == "explicit"
    assert active.history.latest().history_user == admin_user


def test_a_consent_shared_with_a_converted_lead_can_be_reactivated(lead, policy, admin_user):
    shared = factories.consent(subject=lead, policy_obj=policy)
    contact = lead_qualify(lead=lead, convert=True, user=admin_user)
    assert refreshed(lead).is_read_only
    data_consent_cancel(consent=refreshed(shared))

    # The qualified lead is read-only, but the consent is its contact's now.
    reactivated = data_consent_reactivate(consent=refreshed(shared), user=admin_user)

    assert (reactivated.state, reactivated.lead, reactivated.contact) == ("active", lead, contact)
    assert refreshed(contact).consent_level == 4


def test_a_read_only_lead_s_own_consent_still_cannot_be_reactivated(lead, policy):
    own = factories.consent(subject=lead, policy_obj=policy)
    data_consent_cancel(consent=own)
    lead_qualify(lead=lead)
    with pytest.raises(ValidationError, match="read-only"):
        data_consent_reactivate(consent=refreshed(own))


def test_qualify_without_convert_creates_no_contact(lead):
    assert lead_qualify(lead=lead) is None
    assert not Contact.objects.exists()
    assert refreshed(lead).status == "qualified"


def test_expiry_sweep_expires_due_consents_writes_history_and_is_idempotent(policy):
    contact = factories.contact()
    lead = factories.lead()
    due = factories.consent(subject=contact, policy_obj=factories.policy(validity_days=1))
    lead_due = factories.consent(subject=lead, policy_obj=factories.policy(validity_days=1))
    lasting = factories.consent(
        subject=contact, policy_obj=factories.policy(validity_days=90, consent_level=2)
    )
    history_before = DataConsent.history.count()
    with time_machine.travel(timezone.now() + timedelta(days=3)):
        assert data_consents_expire() == 2
        assert data_consents_expire() == 0
    assert DataConsent.history.count() == history_before + 2
    due = refreshed(due)
    assert (due.state, due.status_reason) == ("inactive", "expired")
    row = due.history.latest()
    assert (row.history_source, row.history_change_reason, row.history_user) == (
        "system",
        "expired",
        None,
    )
    assert refreshed(lasting).state == "active"
    assert refreshed(contact).consent_level == 2
    assert refreshed(lead_due).status_reason == "expired"
    lead = refreshed(lead)
    assert (lead.consent_level, lead.data_protection_consent) == (0, "restrict")


def test_consent_history_records_evidence_source_and_actor(contact, policy, service_desk):
    consent = data_consent_create(
        policy=policy,
        contact=contact,
        evidence=Evidence(
            source="verbal",
            description="Called in",
            actor=service_desk,
            ip_address="203.0.113.7",
            user_agent="phone",
        ),
    )
    row = consent.history.get()
    assert (row.history_user, row.history_source, row.history_change_reason) == (
        service_desk,
        "verbal",
        "Called in",
    )
    assert (consent.captured_by, consent.notice_version) == (service_desk, "v1")


def test_views_select_exactly_their_rows(policy):
    today = timezone.localdate()
    contact = factories.contact()
    soon = factories.consent(
        subject=contact, policy_obj=policy, valid_until=today + timedelta(days=14)
    )
    later = factories.consent(
        subject=contact, policy_obj=policy, valid_until=today + timedelta(days=15)
    )
    cancelled = factories.consent(subject=contact, policy_obj=policy)
    data_consent_cancel(consent=cancelled)
    views = DataConsent.objects.all()
    assert set(views.expiring_2_weeks()) == {soon}
    assert set(views.active()) == {soon, later}
    assert set(views.inactive_cancelled()) == {cancelled}
    assert not views.inactive_expired().exists()
    end_of_year = today.replace(month=12, day=31)
    expected_this_year = {c for c in (soon, later) if c.valid_until <= end_of_year}
    assert set(views.expiring_this_year()) == expected_this_year


def test_missing_consent_views_list_active_subjects_without_active_consent(policy):
    with_consent = factories.contact()
    factories.consent(subject=with_consent, policy_obj=policy)
    cancelled_only = factories.contact()
    data_consent_cancel(consent=factories.consent(subject=cancelled_only, policy_obj=policy))
    without = factories.contact()
    inactive = factories.contact()
    from subjects.services import contact_deactivate

    contact_deactivate(contact=inactive)
    assert set(Contact.objects.missing_consent()) == {cancelled_only, without}

    open_lead = factories.lead()
    disqualified = factories.lead()
    from subjects.services import lead_disqualify

    lead_disqualify(lead=disqualified)
    assert set(Lead.objects.missing_consent()) == {open_lead}
