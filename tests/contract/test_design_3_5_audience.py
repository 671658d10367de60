"""DESIGN §3.5: marketing-list codes and the audience as the API serves it."""

import csv
import io

import pytest

from consent.services.erasure import subject_anonymize
from marketing_lists.models import MarketingList
from marketing_lists.services import marketing_list_members_change, marketing_list_save
from subjects.models import Account
from subjects.services import account_save, contact_deactivate, lead_disqualify
from tests import factories

API = "/api/v1/marketing-lists/"


def audience_csv(client, mlist, **params) -> list[dict]:
    response = client.get(f"{API}{mlist.pk}/audience/", {**params, "format": "csv"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response.streaming
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


@pytest.mark.parametrize("list_type", ["static", "dynamic"])
@pytest.mark.parametrize("member_type", ["account", "contact", "lead"])
def test_list_and_member_type_codes(as_root, list_type, member_type):
    body = {"name": f"{list_type} {member_type}", "list_type": list_type}
    body["member_type"] = member_type
    response = as_root.post(API, body, format="json")
    assert response.status_code == 201, response.content
    created = response.json()
    assert (created["list_type"], created["member_type"], created["active"]) == (
        list_type,
        member_type,
        True,
    )
    assert {"query", "purpose", "topic"} <= set(created)


def test_a_lead_list_excludes_leads_that_are_not_open_as_inactive(as_root, commercial, policy):
    open_lead, disqualified = factories.lead(), factories.lead()
    for lead in (open_lead, disqualified):
        factories.consent(subject=lead, policy_obj=policy)
        factories.cp_consent(value=lead.email, purpose_obj=commercial, status="opted_in")
    lead_disqualify(lead=disqualified)
    mlist = marketing_list_save(
        marketing_list=MarketingList(name="Leads", list_type="static", member_type="lead")
    )
    marketing_list_members_change(marketing_list=mlist, add=[open_lead.pk, disqualified.pk])
    rows = audience_csv(as_root, mlist, channel="email", purpose=commercial.pk)
    reasons = {int(row["member_id"]): (row["allowed"], row["reason"]) for row in rows}
    assert reasons == {open_lead.pk: ("true", "opted_in"), disqualified.pk: ("false", "inactive")}
    assert {row["member_type"] for row in rows} == {"lead"}


def test_an_account_list_reaches_only_active_non_anonymized_contacts(as_root, commercial, policy):
    acme = account_save(account=Account(name="Acme"))
    active, inactive, erased = (factories.contact(account=acme) for _ in range(3))
    for contact in (active, inactive, erased):
        factories.consent(subject=contact, policy_obj=policy)
        factories.cp_consent(value=contact.email, purpose_obj=commercial, status="opted_in")
    contact_deactivate(contact=inactive)
    subject_anonymize(subject=erased)
    mlist = marketing_list_save(
        marketing_list=MarketingList(name="Acme", list_type="static", member_type="account")
    )
    marketing_list_members_change(marketing_list=mlist, add=[acme.pk])
    rows = audience_csv(as_root, mlist, channel="email", purpose=commercial.pk)
    sendable = [row["address"] for row in rows if row["allowed"] == "true"]
    assert sendable == [active.email]
    assert erased.pk not in {int(row["member_id"]) for row in rows if row["member_id"]}
