"""Issue 15 #19: the audience CSV keeps E.164 phone numbers exact for the sending systems
that read it, and still neutralizes formulas (read back with Python's csv reader)."""

import csv
import io

import pytest

from consent.models import ComplianceProfile
from marketing_lists.models import MarketingList
from marketing_lists.services import marketing_list_members_change, marketing_list_save
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def commercial():
    return ComplianceProfile.objects.default().purposes.get(kind="commercial")


def audience_csv(client, mlist, **params) -> list[dict]:
    response = client.get(
        f"/api/v1/marketing-lists/{mlist.pk}/audience/", {**params, "format": "csv"}
    )
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


def test_an_sms_audience_keeps_every_phone_number_exact(as_dpo, commercial):
    phones = ["+31610000001", "+14155550100", "+32470123456"]
    contacts = [factories.contact(phone=phone) for phone in phones]
    for contact in contacts[:2]:
        factories.consent(subject=contact, policy_obj=factories.policy(consent_level=4))
        factories.cp_consent(
            channel="sms", value=contact.phone, purpose_obj=commercial, status="opted_in"
        )
    mlist = marketing_list_save(marketing_list=MarketingList(name="SMS"))
    marketing_list_members_change(marketing_list=mlist, add=[c.pk for c in contacts])

    rows = audience_csv(as_dpo, mlist, channel="sms", purpose=commercial.pk)

    assert sorted(row["address"] for row in rows) == sorted(phones)
    assert {row["address"]: row["allowed"] for row in rows} == {
        "+31610000001": "true",
        "+14155550100": "true",
        "+32470123456": "false",
    }


def test_an_email_audience_still_neutralizes_a_formula(as_dpo, commercial):
    risky = factories.contact(email="=cmd@example.org")
    plus = factories.contact(email="+cmd@example.org")
    mlist = marketing_list_save(marketing_list=MarketingList(name="Risky"))
    marketing_list_members_change(marketing_list=mlist, add=[risky.pk, plus.pk])
    rows = audience_csv(as_dpo, mlist, channel="email", purpose=commercial.pk)
    assert sorted(row["address"] for row in rows) == ["'+cmd@example.org", "'=cmd@example.org"]
