import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from consent.services.erasure import subject_anonymize
from marketing_lists.models import MarketingList, MarketingListMember
from marketing_lists.services import (
    marketing_list_members,
    marketing_list_members_change,
    marketing_list_save,
)
from subjects.models import Account
from subjects.services import account_save
from tests import factories


def dynamic(query, member_type="contact", **kwargs):
    return marketing_list_save(
        marketing_list=MarketingList(
            name="Dynamic", list_type="dynamic", member_type=member_type, query=query, **kwargs
        )
    )


def static(member_type="contact", **kwargs):
    return marketing_list_save(
        marketing_list=MarketingList(
            name="Static", list_type="static", member_type=member_type, **kwargs
        )
    )


@pytest.fixture
def acme(db):
    return account_save(account=Account(name="Acme"))


def test_dynamic_list_evaluates_its_query_and_never_yields_anonymized(acme):
    yes = factories.contact(account=acme)
    factories.contact(account=acme, allow_bulk_email=False)
    factories.contact()  # other account
    gone = factories.contact(account=acme)
    subject_anonymize(subject=gone)

    mlist = dynamic(f"account={acme.pk}&allow_bulk_email=true")

    assert list(marketing_list_members(mlist)) == [yes]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("colour=blue", "colour"),
        ("allow_bulk_email=perhaps", "allow_bulk_email"),
        ("consent_level__gte=x", "consent_level__gte"),
    ],
)
def test_dynamic_list_with_bad_query_is_refused_with_a_clear_error(db, query, field):
    with pytest.raises(ValidationError) as excinfo:
        dynamic(query)
    assert field in " ".join(excinfo.value.message_dict["query"])
    assert not MarketingList.objects.exists()


def test_static_members_are_added_and_removed_with_history(db, admin_user):
    mlist = static()
    a, b = factories.contact(), factories.contact()
    result = marketing_list_members_change(
        marketing_list=mlist, add=[a.pk, b.pk, a.pk], user=admin_user
    )
    assert result == {"added": 2, "removed": 0}
    assert set(marketing_list_members(mlist)) == {a, b}
    assert marketing_list_members_change(marketing_list=mlist, add=[a.pk], remove=[b.pk]) == {
        "added": 0,
        "removed": 1,
    }
    assert list(marketing_list_members(mlist)) == [a]
    history = MarketingListMember.history.filter(list_id=mlist.pk)
    assert history.filter(history_type="+").count() == 2
    assert history.filter(history_type="-", contact_id=b.pk).exists()
    assert history.filter(history_type="+").first().history_user == admin_user


def test_unknown_member_ids_are_refused_and_nothing_is_written(db):
    mlist = static(member_type="lead")
    contact = factories.contact()
    with pytest.raises(ValidationError) as excinfo:
        marketing_list_members_change(marketing_list=mlist, add=[contact.pk + 1000])
    assert "add" in excinfo.value.message_dict
    assert not MarketingListMember.objects.exists()


def test_dynamic_list_members_cannot_be_edited_by_hand(db):
    mlist = dynamic("allow_email=true")
    with pytest.raises(ValidationError):
        marketing_list_members_change(marketing_list=mlist, add=[factories.contact().pk])


def test_dpo_list_views(db, policy):
    not_processing = account_save(account=Account(name="Quiet", processes_data=False))
    accounts = static(member_type="account")
    marketing_list_members_change(marketing_list=accounts, add=[not_processing.pk])
    without = static()
    marketing_list_members_change(marketing_list=without, add=[factories.contact().pk])
    with_consent = static()
    consenting = factories.contact()
    factories.consent(subject=consenting, policy_obj=policy)
    marketing_list_members_change(marketing_list=with_consent, add=[consenting.pk])
    leads = static(member_type="lead")
    marketing_list_members_change(marketing_list=leads, add=[factories.lead().pk])
    inactive = static(active=False)
    dyn = dynamic("allow_email=true")

    views = MarketingList.objects.all()
    assert set(views.for_view("all")) == {accounts, without, with_consent, leads, dyn}
    assert inactive not in views.for_view("all")
    assert list(views.for_view("static_accounts_not_processing")) == [accounts]
    assert list(views.for_view("static_contacts_without_consent")) == [without]
    assert list(views.for_view("static_leads_without_consent")) == [leads]


def test_admin_preview_and_view_filter(admin_user, client, acme):
    factories.contact(account=acme, last_name="Previewed")
    mlist = dynamic(f"account={acme.pk}")
    client.force_login(admin_user)
    page = client.get(reverse("admin:marketing_lists_marketinglist_change", args=[mlist.pk]))
    assert "1 member(s)" in page.text
    assert "Previewed" in page.text
    listing = client.get(
        reverse("admin:marketing_lists_marketinglist_changelist"),
        {"view": "static_contacts_without_consent"},
    )
    assert listing.status_code == 200
    assert "0 marketing lists" in listing.text or "Dynamic" not in listing.text


def test_admin_rejects_a_bad_query_with_a_form_error(admin_user, client):
    client.force_login(admin_user)
    response = client.post(
        reverse("admin:marketing_lists_marketinglist_add"),
        {
            "name": "Broken",
            "list_type": "dynamic",
            "member_type": "contact",
            "query": "nonsense=1",
            "active": "on",
        },
    )
    assert response.status_code == 200
    assert "Unknown filter parameter" in response.text
    assert not MarketingList.objects.exists()


def members_url(mlist) -> str:
    return reverse("admin:marketing_lists_marketinglist_members", args=[mlist.pk])


def test_member_page_adds_by_email_and_removes_through_the_service(admin_user, client):
    mlist = static()
    kept, dropped = factories.contact(), factories.contact()
    added = factories.contact(email="new.member@example.org")
    marketing_list_members_change(marketing_list=mlist, add=[kept.pk, dropped.pk])
    client.force_login(admin_user)

    removed = client.post(members_url(mlist), {"remove": [dropped.pk]})
    joined = client.post(members_url(mlist), {"add": "1", "members": "NEW.member@example.org"})

    assert (removed.status_code, joined.status_code) == (302, 302)
    assert set(marketing_list_members(mlist)) == {kept, added}
    assert MarketingListMember.history.filter(history_type="-", contact_id=dropped.pk).exists()
    assert MarketingListMember.history.filter(
        history_type="+", contact_id=added.pk, history_user=admin_user
    ).exists()


def test_member_page_refuses_unknown_members_and_writes_nothing(admin_user, client):
    mlist = static()
    client.force_login(admin_user)

    response = client.post(members_url(mlist), {"add": "1", "members": "999999, ghost@x.org"})

    assert response.status_code == 200
    assert "No contact with" in response.text
    assert not MarketingListMember.objects.filter(list=mlist).exists()


def test_member_page_is_paginated_and_searchable_not_an_inline(admin_user, client):
    mlist = static()
    people = [factories.contact(last_name=f"Member{n:03d}") for n in range(60)]
    marketing_list_members_change(marketing_list=mlist, add=[c.pk for c in people])
    client.force_login(admin_user)

    change_page = client.get(reverse("admin:marketing_lists_marketinglist_change", args=[mlist.pk]))
    first = client.get(members_url(mlist)).text
    found = client.get(members_url(mlist), {"q": "Member059"}).text

    assert (
        "inline_admin_formsets" not in change_page.context
        or not change_page.context["inline_admin_formsets"]
    )
    assert first.count('name="remove"') == 50  # one page, whatever the list's size
    assert "Page 1 of 2" in first
    assert found.count('name="remove"') == 1 and "Member059" in found


def test_selected_contacts_join_a_static_list_from_their_changelist(admin_user, client):
    mlist = static()
    chosen = [factories.contact(), factories.contact()]
    factories.contact()
    client.force_login(admin_user)
    data = {"action": "add_to_static_list", "_selected_action": [c.pk for c in chosen]}

    choose = client.post(reverse("admin:subjects_contact_changelist"), data)
    done = client.post(
        reverse("admin:subjects_contact_changelist"), {**data, "marketing_list": mlist.pk}
    )

    assert choose.status_code == 200 and mlist.name in choose.text
    assert done.status_code == 302
    assert set(marketing_list_members(mlist)) == set(chosen)


@pytest.mark.parametrize(
    "query",
    ["created_at__gte=2024-01-01T00:00:00%2B20:00", "created_at__gte=2024-01-01T00:00:00+99:00"],
)
def test_a_dynamic_list_with_an_impossible_datetime_offset_is_refused_at_save(db, query):
    with pytest.raises(ValidationError) as refused:
        dynamic(query, purpose=factories.purpose())
    assert "query" in refused.value.error_dict
    assert not MarketingList.objects.exists()


def test_a_list_saved_before_the_offset_rule_answers_with_an_error_not_a_500(
    admin_user, client, as_dpo
):
    purpose = factories.purpose()
    saved = dynamic("last_name=X", purpose=purpose)
    bad = "created_at__gte=2024-01-01T00:00:00%2B20:00"
    MarketingList.objects.filter(pk=saved.pk).update(query=bad)  # stored before the rule
    client.force_login(admin_user)
    audience = f"/admin/marketing_lists/marketinglist/{saved.pk}/audience/"
    for suffix in ("", "&format=csv"):
        page = client.get(f"{audience}?channel=email&purpose={purpose.pk}{suffix}")
        assert page.status_code == 200
        assert "at most ±15:59" in page.text
    assert client.get(f"/admin/marketing_lists/marketinglist/{saved.pk}/change/").status_code == 200
    api = as_dpo.get(
        f"/api/v1/marketing-lists/{saved.pk}/audience/", {"channel": "email", "purpose": purpose.pk}
    )
    assert api.status_code in (400, 409)
