"""Marketing lists through the API: CRUD, DPO views, static members, audiences (JSON / CSV)."""

import csv
import io

import pytest

from consent.models import ComplianceProfile
from marketing_lists.models import MarketingList, MarketingListMember
from marketing_lists.services import marketing_list_members_change, marketing_list_save
from subjects.models import Account
from subjects.services import account_save
from tests import factories

LISTS = "/api/v1/marketing-lists/"


MANAGER_PERMS = [
    *(f"marketing_lists.{verb}_marketinglist" for verb in ("view", "add", "change", "delete")),
    "subjects.view_contact",
    "subjects.view_lead",
]


@pytest.fixture
def list_manager(make_user):
    """Who manages marketing lists, with explicit permissions (whatever the roles hold)."""
    return make_user("lists", perms=MANAGER_PERMS)


@pytest.fixture
def manager(client_for, list_manager):
    return client_for(list_manager)


@pytest.fixture
def commercial(db):
    return ComplianceProfile.objects.default().purposes.get(kind="commercial")


@pytest.fixture
def acme(db):
    return account_save(account=Account(name="Acme"))


def list_url(marketing_list, action=""):
    return f"{LISTS}{marketing_list.pk}/{action + '/' if action else ''}"


def static_list(**fields):
    return marketing_list_save(marketing_list=MarketingList(name="Static", **fields))


def ids(response):
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


def marketing_consent(subject):
    factories.consent(subject=subject, policy_obj=factories.policy(consent_level=4))


def csv_rows(response) -> list[dict]:
    assert response.status_code == 200
    assert response.streaming  # rows are written as they are read, never built in memory
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


# ---------------------------------------------------------------------------------------------
# CRUD


def test_create_read_update_delete(manager, list_manager, acme, commercial):
    created = manager.post(
        LISTS,
        {
            "name": "Acme bulk email",
            "list_type": "dynamic",
            "member_type": "contact",
            "query": f"account={acme.pk}&allow_bulk_email=true",
            "purpose": commercial.pk,
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["list_type"], body["active"], body["topic"]) == ("dynamic", True, None)
    url = f"{LISTS}{body['id']}/"
    assert manager.get(url).json()["query"] == f"account={acme.pk}&allow_bulk_email=true"
    patched = manager.patch(url, {"query": "allow_email=false"}, format="json")
    assert patched.json()["query"] == "allow_email=false"
    history = MarketingList.history.filter(id=body["id"]).order_by("history_id")
    assert [(h.history_change_reason, h.history_source, h.history_user) for h in history] == [
        ("created", "api", list_manager),
        ("edited", "api", list_manager),
    ]
    assert manager.delete(url).status_code == 204
    assert not MarketingList.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"list_type": "dynamic", "query": "colour=red"}, "query"),
        ({"list_type": "dynamic", "query": "allow_email=maybe"}, "query"),
        ({"list_type": "dynamic", "query": "account=999999"}, "query"),
        ({"list_type": "static", "query": "allow_email=true"}, "query"),
        ({"list_type": "weekly"}, "list_type"),
        ({"member_type": "robot"}, "member_type"),
        ({"purpose": 999_999}, "purpose"),
        ({"name": ""}, "name"),
    ],
)
def test_invalid_lists_are_400(manager, body, field):
    response = manager.post(LISTS, {"name": "L", **body}, format="json")
    assert response.status_code == 400, response.content
    assert list(response.json()) == [field]


def test_dynamic_query_errors_name_the_parameter(manager):
    response = manager.post(
        LISTS, {"name": "L", "list_type": "dynamic", "query": "colour=red"}, format="json"
    )
    assert response.json() == {"query": ["colour: Unknown filter parameter."]}


def test_the_topic_must_belong_to_the_purpose(manager, commercial):
    foreign = factories.topic()
    response = manager.post(
        LISTS, {"name": "L", "purpose": commercial.pk, "topic": foreign.pk}, format="json"
    )
    assert response.status_code == 400
    assert list(response.json()) == ["topic"]


def test_member_type_cannot_change_while_there_are_members(manager, contact):
    mlist = static_list()
    marketing_list_members_change(marketing_list=mlist, add=[contact.pk])
    response = manager.patch(list_url(mlist), {"member_type": "lead"}, format="json")
    assert response.status_code == 400
    assert list(response.json()) == ["member_type"]


def test_lists_need_the_marketing_list_permissions(client_for, make_user):
    mlist = static_list()
    reader = client_for(make_user("reader", perms=["marketing_lists.view_marketinglist"]))
    assert ids(reader.get(LISTS)) == {mlist.pk}
    assert reader.post(LISTS, {"name": "X"}, format="json").status_code == 403
    assert reader.delete(list_url(mlist)).status_code == 403
    assert reader.post(list_url(mlist, "members"), {"add": []}, format="json").status_code == 403
    assert client_for(make_user("nobody")).get(LISTS).status_code == 403


# ---------------------------------------------------------------------------------------------
# Views and filters


def test_the_dpo_views(manager, acme):
    not_processing = account_save(account=Account(name="Quiet", processes_data=False))
    with_consent, without = factories.contact(), factories.contact()
    marketing_consent(with_consent)
    leadless = factories.lead()
    accounts = static_list(member_type="account")
    marketing_list_members_change(marketing_list=accounts, add=[not_processing.pk, acme.pk])
    contacts = static_list(member_type="contact")
    marketing_list_members_change(marketing_list=contacts, add=[with_consent.pk, without.pk])
    leads = static_list(member_type="lead")
    marketing_list_members_change(marketing_list=leads, add=[leadless.pk])
    inactive = static_list(active=False)

    def view(code):
        return ids(manager.get(LISTS, {"view": code}))

    assert view("all") == {accounts.pk, contacts.pk, leads.pk}
    assert inactive.pk not in view("all")
    assert view("static_accounts_not_processing") == {accounts.pk}
    assert view("static_contacts_without_consent") == {contacts.pk}
    assert view("static_leads_without_consent") == {leads.pk}
    response = manager.get(LISTS, {"view": "everything"})
    assert (response.status_code, list(response.json())) == (400, ["view"])


def test_field_filters(manager, commercial):
    dynamic = marketing_list_save(
        marketing_list=MarketingList(name="Dyn", list_type="dynamic", purpose=commercial)
    )
    static = static_list(member_type="lead")
    assert ids(manager.get(LISTS, {"list_type": "dynamic"})) == {dynamic.pk}
    assert ids(manager.get(LISTS, {"member_type": "lead"})) == {static.pk}
    assert ids(manager.get(LISTS, {"purpose__isnull": "true"})) == {static.pk}
    assert ids(manager.get(LISTS, {"name": "dy"})) == {dynamic.pk}
    assert manager.get(LISTS, {"colour": "red"}).status_code == 400


# ---------------------------------------------------------------------------------------------
# Static members


def test_add_and_remove_members(manager, list_manager):
    mlist = static_list()
    first, second, third = factories.contact(), factories.contact(), factories.contact()
    url = list_url(mlist, "members")
    response = manager.post(url, {"add": [first.pk, second.pk, first.pk]}, format="json")
    assert response.status_code == 200, response.content
    assert response.json() == {"added": 2, "removed": 0}
    response = manager.post(
        url, {"add": [second.pk, third.pk], "remove": [first.pk]}, format="json"
    )
    assert response.json() == {"added": 1, "removed": 1}
    assert set(MarketingListMember.objects.values_list("contact", flat=True)) == {
        second.pk,
        third.pk,
    }
    added = MarketingListMember.history.filter(contact=third).get()
    assert (added.history_source, added.history_user) == ("api", list_manager)


def test_members_of_a_dynamic_list_cannot_be_edited(manager, contact):
    mlist = marketing_list_save(
        marketing_list=MarketingList(name="Dyn", list_type="dynamic", query="allow_email=true")
    )
    response = manager.post(list_url(mlist, "members"), {"add": [contact.pk]}, format="json")
    assert response.status_code == 409
    assert "query" in response.json()["detail"]


def test_unknown_ids_and_ids_of_another_member_type_are_refused(manager, contact):
    leads = static_list(member_type="lead")
    lead = factories.lead()
    response = manager.post(
        list_url(leads, "members"), {"add": [lead.pk, contact.pk + 1000, 999_999]}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {
        "add": [f"No lead with id {contact.pk + 1000}.", "No lead with id 999999."]
    }
    assert not MarketingListMember.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"add": "1,2"}, "add"),
        ({"add": ["x"]}, "add"),
        ({"add": [0]}, "add"),
        ({"remove": [2**64]}, "remove"),
        ({"add": list(range(1, 10_002))}, "add"),
    ],
)
def test_malformed_member_bodies_are_400(manager, body, field):
    response = manager.post(list_url(static_list(), "members"), body, format="json")
    assert response.status_code == 400
    assert list(response.json()) == [field]


@pytest.mark.parametrize("action", ["", "members"])
def test_malformed_json_is_400(manager, action):
    url = list_url(static_list(), action) if action else LISTS
    response = manager.post(url, data="{oops", content_type="application/json")
    assert (response.status_code, list(response.json())) == (400, ["non_field_errors"])


def test_members_of_an_unknown_list_is_404(manager):
    assert manager.post(f"{LISTS}999999/members/", {"add": []}, format="json").status_code == 404


# ---------------------------------------------------------------------------------------------
# Audience


@pytest.fixture
def acme_audience(acme, commercial):
    """DESIGN §3.5 acceptance: contacts of Acme who allow bulk email."""
    first = factories.contact(account=acme, email="shared@acme.example")
    second = factories.contact(account=acme, email="Shared@ACME.example")
    no_opt_in = factories.contact(account=acme, email="quiet@acme.example")
    factories.contact(account=acme, allow_bulk_email=False)  # not a member: the query excludes it
    for subject in (first, second, no_opt_in):
        marketing_consent(subject)
    factories.cp_consent(value="shared@acme.example", purpose_obj=commercial, status="opted_in")
    mlist = marketing_list_save(
        marketing_list=MarketingList(
            name="Acme bulk email",
            list_type="dynamic",
            query=f"account={acme.pk}&allow_bulk_email=true",
        )
    )
    return {"list": mlist, "first": first, "second": second, "no_opt_in": no_opt_in}


def test_acceptance_audience_csv_dedupes_and_lists_exclusions(manager, acme_audience, commercial):
    url = list_url(acme_audience["list"], "audience")
    response = manager.get(url, {"channel": "email", "purpose": commercial.pk, "format": "csv"})
    assert "attachment" in response["Content-Disposition"]
    rows = csv_rows(response)
    assert [row for row in rows if row["allowed"] == "true"] == [
        {
            "member_type": "contact",
            "member_id": str(acme_audience["first"].pk),
            "address": "shared@acme.example",
            "allowed": "true",
            "reason": "opted_in",
        }
    ]
    excluded = {row["member_id"]: row["reason"] for row in rows if row["allowed"] == "false"}
    assert excluded == {str(acme_audience["no_opt_in"].pk): "no_purpose_opt_in"}


def test_audience_json_counts(manager, acme_audience, commercial):
    url = list_url(acme_audience["list"], "audience")
    for extra in ({}, {"format": "json"}):
        response = manager.get(url, {"channel": "email", "purpose": commercial.pk, **extra})
        assert response.status_code == 200, response.content
        assert response["Content-Type"] == "application/json"
        assert response.json() == {"recipients": 1, "excluded": {"no_purpose_opt_in": 1}}


def test_audience_of_a_static_contact_list_with_topic(manager, commercial):
    events = factories.topic(purpose_obj=commercial)
    both, purpose_only, no_email = factories.contact(), factories.contact(), factories.contact()
    no_email.email = None
    no_email.save()
    for subject in (both, purpose_only):
        marketing_consent(subject)
        factories.cp_consent(value=subject.email, purpose_obj=commercial, status="opted_in")
    factories.cp_consent(value=both.email, purpose_obj=commercial, topic=events, status="opted_in")
    mlist = static_list()
    marketing_list_members_change(marketing_list=mlist, add=[both.pk, purpose_only.pk, no_email.pk])
    params = {"channel": "email", "purpose": commercial.pk, "topic": events.pk}
    response = manager.get(list_url(mlist, "audience"), params)
    assert response.json() == {
        "recipients": 1,
        "excluded": {"no_address": 1, "no_topic_opt_in": 1},
    }


def test_audience_csv_is_formula_safe(manager, commercial):
    risky = factories.contact(email="=cmd@example.org")
    mlist = static_list()
    marketing_list_members_change(marketing_list=mlist, add=[risky.pk])
    response = manager.get(
        list_url(mlist, "audience"), {"channel": "email", "purpose": commercial.pk, "format": "csv"}
    )
    assert [row["address"] for row in csv_rows(response)] == ["'=cmd@example.org"]


@pytest.mark.parametrize(
    ("params", "fields"),
    [
        ({"purpose": "{purpose}"}, {"channel"}),
        ({"channel": "fax", "purpose": "{purpose}"}, {"channel"}),
        ({"channel": "email"}, {"purpose"}),
        ({"channel": "email", "purpose": "abc"}, {"purpose"}),
        ({"channel": "email", "purpose": "999999"}, {"purpose"}),
        ({"channel": "email", "purpose": "9" * 5000}, {"purpose"}),
        ({"channel": "email", "purpose": "{purpose}", "topic": "999999"}, {"topic"}),
        ({"channel": "email", "purpose": "{purpose}", "profile": "999999"}, {"profile"}),
        ({"channel": "email", "purpose": "{purpose}", "format": "xml"}, {"format"}),
        ({"channel": "email", "purpose": "{purpose}", "format": "csv", "page": "2"}, {"page"}),
    ],
)
def test_bad_audience_parameters_are_400_per_field(manager, commercial, params, fields):
    params = {name: value.format(purpose=commercial.pk) for name, value in params.items()}
    response = manager.get(list_url(static_list(), "audience"), params)
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/json"
    assert set(response.json()) == fields


def test_a_topic_of_another_purpose_is_refused(manager, commercial):
    params = {"channel": "email", "purpose": commercial.pk, "topic": factories.topic().pk}
    response = manager.get(list_url(static_list(), "audience"), params)
    assert response.status_code == 400
    assert list(response.json()) == ["topic"]


def test_a_stored_query_that_no_longer_validates_is_a_conflict(manager, commercial):
    gone = account_save(account=Account(name="Gone"))
    mlist = marketing_list_save(
        marketing_list=MarketingList(name="Dyn", list_type="dynamic", query=f"account={gone.pk}")
    )
    gone.delete()
    params = {"channel": "email", "purpose": commercial.pk, "format": "csv"}
    response = manager.get(list_url(mlist, "audience"), params)
    assert response.status_code == 409
    assert "no longer valid" in response.json()["detail"]


def test_the_audience_needs_to_see_people(client_for, make_user, commercial):
    mlist = static_list()
    params = {"channel": "email", "purpose": commercial.pk}
    lists_only = client_for(make_user("viewer", perms=["marketing_lists.view_marketinglist"]))
    assert lists_only.get(list_url(mlist, "audience"), params).status_code == 403
    people = make_user(
        "people",
        perms=["marketing_lists.view_marketinglist", "subjects.view_contact", "subjects.view_lead"],
    )
    assert client_for(people).get(list_url(mlist, "audience"), params).status_code == 200


def test_format_json_is_accepted_on_the_list_too(manager):
    mlist = static_list()
    assert ids(manager.get(LISTS, {"format": "json"})) == {mlist.pk}
