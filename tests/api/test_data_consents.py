from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth.models import Group
from django.utils import timezone

from consent.models import ConsentLevelSubstatus, DataConsent
from consent.services.data_consents import (
    CONFIDENTIAL_OWNER_REQUIRED,
    data_consent_cancel,
    data_consents_expire,
)
from consent.services.erasure import subject_anonymize
from subjects import services as subject_services
from tests import factories

CONSENTS = "/api/v1/data-consents/"


def consent_url(consent, action=""):
    return f"{CONSENTS}{consent.pk}/{action + '/' if action else ''}"


def ids(response):
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


def test_create_copies_the_level_and_records_evidence(as_dpo, dpo, contact, policy):
    response = as_dpo.post(
        CONSENTS,
        {
            "contact": contact.pk,
            "policy": policy.pk,
            "note": "signed form",
            "ip_address": "192.0.2.1",
            "consent_level": 1,
            "state": "inactive",
            "captured_by": 999,
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["consent_level"] == policy.consent_level
    assert (body["state"], body["status_reason"]) == ("active", "active")
    assert (body["captured_by"], body["captured_by_name"]) == (dpo.pk, "dpo")
    assert (body["owner_user"], body["owner_user_name"]) == (dpo.pk, "dpo")
    assert (body["contact"], body["lead"], body["policy_name"]) == (contact.pk, None, policy.name)
    assert body["source"] == "api"
    assert body["notice_version"] == "v1"
    assert body["valid_until"] == (timezone.now() + timedelta(days=365)).date().isoformat()
    contact.refresh_from_db()
    assert (contact.consent_level, contact.data_protection_consent) == (4, "explicit")


def test_create_needs_a_subject(as_dpo, policy):
    response = as_dpo.post(CONSENTS, {"policy": policy.pk}, format="json")
    assert response.status_code == 400
    assert response.json() == {"contact": ["A data consent needs a lead or a contact."]}


def test_create_rejects_unknown_ids_and_wrong_types(as_dpo, contact):
    response = as_dpo.post(
        CONSENTS,
        {"contact": contact.pk, "policy": 999_999, "substatus": "x", "given_at": "yesterday"},
        format="json",
    )
    assert response.status_code == 400
    assert set(response.json()) == {"policy", "substatus", "given_at"}


def test_create_for_a_read_only_subject_is_a_conflict(as_dpo, contact, policy):
    subject_services.contact_deactivate(contact=contact)
    response = as_dpo.post(CONSENTS, {"contact": contact.pk, "policy": policy.pk}, format="json")
    assert response.status_code == 409
    assert "read-only" in response.json()["detail"]
    assert not DataConsent.objects.exists()


def test_substatus_must_belong_to_the_level(as_dpo, contact, policy):
    wrong = ConsentLevelSubstatus.objects.create(level=2, name="Receipts only")
    response = as_dpo.post(
        CONSENTS,
        {"contact": contact.pk, "policy": policy.pk, "substatus": wrong.pk},
        format="json",
    )
    assert response.status_code == 400
    assert list(response.json()) == ["substatus"]


def test_confidential_consent_needs_an_owner(as_dpo, contact, policy):
    data = {"contact": contact.pk, "policy": policy.pk, "confidential": True}
    response = as_dpo.post(CONSENTS, data, format="json")
    assert response.status_code == 400
    assert response.json() == {"owner_user": [CONFIDENTIAL_OWNER_REQUIRED]}
    team = Group.objects.create(name="Legal")
    response = as_dpo.post(CONSENTS, {**data, "owner_team": team.pk}, format="json")
    assert response.status_code == 201
    assert (response.json()["owner_team_name"], response.json()["owner_user"]) == ("Legal", None)


def test_given_at_in_the_future_is_refused(as_dpo, contact, policy):
    response = as_dpo.post(
        CONSENTS,
        {"contact": contact.pk, "policy": policy.pk, "given_at": "9999-12-31T00:00:00Z"},
        format="json",
    )
    assert response.status_code == 400
    assert list(response.json()) == ["given_at"]


def test_patch_marking_confidential_clears_the_owner_unless_one_is_given(as_dpo, dpo, contact):
    consent = factories.consent(subject=contact, user=dpo)
    refused = as_dpo.patch(consent_url(consent), {"confidential": True}, format="json")
    assert refused.status_code == 400
    assert list(refused.json()) == ["owner_user"]
    consent.refresh_from_db()
    assert (consent.confidential, consent.owner_user) == (False, dpo)
    response = as_dpo.patch(
        consent_url(consent), {"confidential": True, "owner_user": dpo.pk}, format="json"
    )
    assert response.status_code == 200, response.content
    assert (response.json()["confidential"], response.json()["owner_user"]) == (True, dpo.pk)


def test_update_writes_only_the_editable_fields(as_dpo, contact, policy):
    consent = factories.consent(subject=contact, policy_obj=policy)
    other_policy = factories.policy(consent_level=1)
    response = as_dpo.put(
        consent_url(consent),
        {"policy": other_policy.pk, "note": "renewed", "valid_until": "2099-01-01"},
        format="json",
    )
    assert response.status_code == 200, response.content
    consent.refresh_from_db()
    assert (consent.policy, consent.note, consent.valid_until) == (
        policy,
        "renewed",
        date(2099, 1, 1),
    )
    contact.refresh_from_db()
    assert contact.max_expiry_date == date(2099, 1, 1)


def test_cancel_and_reactivate(as_dpo, contact):
    consent = factories.consent(subject=contact)
    response = as_dpo.post(consent_url(consent, "cancel"), {"note": "asked by phone"})
    assert response.status_code == 200, response.content
    assert (response.json()["state"], response.json()["status_reason"]) == (
        "inactive",
        "cancelled",
    )
    assert consent.history.first().history_change_reason == "asked by phone"
    contact.refresh_from_db()
    assert contact.data_protection_consent == "restrict"
    assert as_dpo.post(consent_url(consent, "cancel")).status_code == 409
    response = as_dpo.post(consent_url(consent, "reactivate"))
    assert response.json()["state"] == "active"


def test_expired_consent_cannot_be_reactivated(as_dpo, contact):
    consent = factories.consent(
        subject=contact,
        policy_obj=factories.policy(validity_days=10),
        given_at=timezone.now() - timedelta(days=30),
    )
    data_consents_expire()
    response = as_dpo.post(consent_url(consent, "reactivate"))
    assert response.status_code == 409
    assert "final" in response.json()["detail"]


def test_delete_answers_405(client_for, admin_user, contact):
    consent = factories.consent(subject=contact)
    assert client_for(admin_user).delete(consent_url(consent)).status_code == 405
    assert DataConsent.objects.filter(pk=consent.pk).exists()


def test_service_desk_cancels_but_cannot_edit(client_for, service_desk, contact):
    consent = factories.consent(subject=contact)
    client = client_for(service_desk)
    assert client.patch(consent_url(consent), {"note": "x"}, format="json").status_code == 403
    assert client.post(consent_url(consent, "cancel")).status_code == 200


def test_marketer_cannot_cancel(client_for, marketer, contact):
    consent = factories.consent(subject=contact)
    assert client_for(marketer).post(consent_url(consent, "cancel")).status_code == 403
    consent.refresh_from_db()
    assert consent.is_active


class TestConfidentiality:
    @pytest.fixture
    def team(self):
        return Group.objects.create(name="Legal")

    @pytest.fixture
    def secret(self, contact, team):
        return factories.consent(subject=contact, confidential=True, owner_team=team)

    @pytest.fixture
    def public(self, contact):
        return factories.consent(subject=contact)

    def test_list_hides_it_from_other_users(self, client_for, marketer, secret, public):
        assert ids(client_for(marketer).get(CONSENTS)) == {public.pk}
        by_contact = client_for(marketer).get(CONSENTS, {"contact": secret.contact_id})
        assert ids(by_contact) == {public.pk}

    def test_detail_and_actions_answer_404(self, client_for, service_desk, secret):
        client = client_for(service_desk)
        assert client.get(consent_url(secret)).status_code == 404
        assert client.post(consent_url(secret, "cancel")).status_code == 404
        secret.refresh_from_db()
        assert secret.is_active

    def test_dpo_team_members_and_the_owner_see_it(
        self, client_for, dpo, make_user, team, secret, public
    ):
        assert ids(client_for(dpo).get(CONSENTS)) == {secret.pk, public.pk}
        member = make_user("member", perms=["consent.view_dataconsent"])
        member.groups.add(team)
        assert client_for(member).get(consent_url(secret)).status_code == 200
        owner = make_user("owner", perms=["consent.view_dataconsent"])
        mine = factories.consent(subject=secret.contact, confidential=True, owner_user=owner)
        assert ids(client_for(owner).get(CONSENTS)) == {public.pk, mine.pk}


@time_machine.travel(datetime(2030, 6, 15, 12, tzinfo=UTC), tick=False)
def test_view_filter_returns_exactly_the_named_view(as_dpo):
    today = timezone.localdate()

    def given(valid_until):
        return factories.consent(subject=factories.contact(), valid_until=valid_until)

    two_weeks = given(today + timedelta(days=7))
    this_year = given(today + timedelta(days=60))
    later = given(today + timedelta(days=400))
    cancelled = data_consent_cancel(consent=given(today + timedelta(days=400)))
    expired = factories.consent(
        subject=factories.contact(),
        policy_obj=factories.policy(validity_days=10),
        given_at=timezone.now() - timedelta(days=30),
    )
    data_consents_expire()
    anonymized_subject = factories.contact()
    anonymized = factories.consent(subject=anonymized_subject)
    subject_anonymize(subject=anonymized_subject)

    def view(code):
        return ids(as_dpo.get(CONSENTS, {"view": code}))

    assert view("active") == {two_weeks.pk, this_year.pk, later.pk}
    assert view("expiring_2_weeks") == {two_weeks.pk}
    assert view("expiring_this_year") == {two_weeks.pk, this_year.pk}
    assert view("inactive") == {cancelled.pk, expired.pk, anonymized.pk}
    assert view("inactive_cancelled") == {cancelled.pk}
    assert view("inactive_expired") == {expired.pk}
    assert view("inactive_anonymized") == {anonymized.pk}
    assert len(view("all")) == 6


def test_field_filters(as_dpo, contact, lead):
    level_two = factories.policy(consent_level=2)
    on_contact = factories.consent(subject=contact, policy_obj=level_two)
    on_lead = factories.consent(subject=lead)
    cancelled = data_consent_cancel(consent=factories.consent(subject=lead))
    assert ids(as_dpo.get(CONSENTS, {"contact": contact.pk})) == {on_contact.pk}
    assert ids(as_dpo.get(CONSENTS, {"lead": lead.pk, "state": "active"})) == {on_lead.pk}
    assert ids(as_dpo.get(CONSENTS, {"status_reason": "cancelled"})) == {cancelled.pk}
    assert ids(as_dpo.get(CONSENTS, {"policy": level_two.pk})) == {on_contact.pk}
    assert ids(as_dpo.get(CONSENTS, {"consent_level__lte": 3})) == {on_contact.pk}
    assert ids(as_dpo.get(CONSENTS, {"confidential": "false"})) == {
        on_contact.pk,
        on_lead.pk,
        cancelled.pk,
    }
    assert as_dpo.get(CONSENTS, {"state": "sleeping"}).status_code == 400
    assert as_dpo.get(CONSENTS, {"view": "expiring"}).status_code == 400
