import pytest
from django.core.exceptions import ValidationError

from consent.models import ComplianceProfile, Purpose
from marketing_lists.audience import audience_request, audience_rows, audience_summary
from marketing_lists.models import MarketingList
from marketing_lists.services import marketing_list_members_change, marketing_list_save
from subjects.models import Account
from subjects.services import account_save, contact_deactivate
from tests import factories


@pytest.fixture
def commercial(db):
    return Purpose.objects.get(
        profile=ComplianceProfile.objects.get(is_default=True), kind="commercial"
    )


@pytest.fixture
def acme(db):
    return account_save(account=Account(name="Acme"))


def marketing_consent(subject):
    factories.consent(subject=subject, policy_obj=factories.policy(consent_level=4))


def opt_in(subject, purpose, topic=None):
    factories.cp_consent(value=subject.email, purpose_obj=purpose, status="opted_in")
    if topic:
        factories.cp_consent(
            value=subject.email, purpose_obj=purpose, status="opted_in", topic=topic
        )


def run(mlist, channel="email", purpose=None, topic=None):
    request = audience_request(
        marketing_list=mlist, channel=channel, purpose=purpose.pk, topic=topic.pk if topic else None
    )
    return list(audience_rows(request))


def test_acceptance_dynamic_list_dedupes_shared_address_and_reports_exclusions(acme, commercial):
    first = factories.contact(account=acme, email="shared@acme.example")
    second = factories.contact(account=acme, email="Shared@ACME.example")
    no_opt_in = factories.contact(account=acme)
    factories.contact(account=acme, allow_bulk_email=False)  # not a member: query excludes it
    for subject in (first, second, no_opt_in):
        marketing_consent(subject)
    opt_in(first, commercial)

    mlist = marketing_list_save(
        marketing_list=MarketingList(
            name="Acme bulk email",
            list_type="dynamic",
            query=f"account={acme.pk}&allow_bulk_email=true",
        )
    )
    rows = run(mlist, purpose=commercial)

    sent = [row for row in rows if row.allowed]
    assert [row.address for row in sent] == ["shared@acme.example"]
    assert sent[0].reason == "opted_in"
    excluded = {row.member_id: row.reason for row in rows if not row.allowed}
    assert excluded == {no_opt_in.pk: "no_purpose_opt_in"}
    assert audience_summary(rows) == {"recipients": 1, "excluded": {"no_purpose_opt_in": 1}}


def test_topic_audience_needs_the_topic_opt_in(commercial):
    topic = factories.topic(purpose_obj=commercial, name="Events")
    both, purpose_only = factories.contact(), factories.contact()
    for subject in (both, purpose_only):
        marketing_consent(subject)
    opt_in(both, commercial, topic)
    opt_in(purpose_only, commercial)
    mlist = marketing_list_save(marketing_list=MarketingList(name="S", list_type="static"))
    marketing_list_members_change(marketing_list=mlist, add=[both.pk, purpose_only.pk])

    rows = {
        row.member_id: (row.allowed, row.reason)
        for row in run(mlist, purpose=commercial, topic=topic)
    }

    assert rows == {both.pk: (True, "opted_in"), purpose_only.pk: (False, "no_topic_opt_in")}


def test_inactive_anonymized_and_addressless_members(commercial):
    from consent.services.erasure import subject_anonymize

    inactive = factories.contact()
    contact_deactivate(contact=inactive)
    gone = factories.contact()
    no_phone = factories.contact(phone=None)
    mlist = marketing_list_save(marketing_list=MarketingList(name="S", list_type="static"))
    marketing_list_members_change(marketing_list=mlist, add=[inactive.pk, gone.pk, no_phone.pk])
    subject_anonymize(subject=gone)

    rows = {row.member_id: row.reason for row in run(mlist, channel="sms", purpose=commercial)}

    assert rows[inactive.pk] == "inactive"
    assert rows[no_phone.pk] == "no_address"
    assert gone.pk not in rows  # anonymized subjects never reach an audience


def test_account_list_reaches_the_accounts_active_contacts(acme, commercial):
    member = factories.contact(account=acme)
    marketing_consent(member)
    opt_in(member, commercial)
    factories.contact()  # another account
    mlist = marketing_list_save(
        marketing_list=MarketingList(name="Accounts", list_type="static", member_type="account")
    )
    marketing_list_members_change(marketing_list=mlist, add=[acme.pk])

    rows = run(mlist, purpose=commercial)

    assert [(row.member_type, row.member_id, row.allowed) for row in rows] == [
        ("contact", member.pk, True)
    ]


def test_bad_parameters_are_field_errors(commercial):
    mlist = marketing_list_save(marketing_list=MarketingList(name="S", list_type="static"))
    other = factories.topic(purpose_obj=factories.purpose(), name="Elsewhere")
    with pytest.raises(ValidationError) as excinfo:
        audience_request(
            marketing_list=mlist, channel="pigeon", purpose=commercial.pk, topic=other.pk
        )
    assert set(excinfo.value.message_dict) == {"channel", "topic"}
    with pytest.raises(ValidationError) as excinfo:
        audience_request(marketing_list=mlist, channel="email", purpose="x")
    assert set(excinfo.value.message_dict) == {"purpose"}


def test_audience_query_count_does_not_grow_with_members(commercial, django_assert_max_num_queries):
    mlist = marketing_list_save(marketing_list=MarketingList(name="S", list_type="static"))
    people = [factories.contact() for _ in range(30)]
    for subject in people[:15]:
        marketing_consent(subject)
        opt_in(subject, commercial)
    marketing_list_members_change(marketing_list=mlist, add=[p.pk for p in people])
    request = audience_request(marketing_list=mlist, channel="email", purpose=commercial.pk)
    with django_assert_max_num_queries(8):
        rows = list(audience_rows(request))
    assert sum(row.allowed for row in rows) == 15


def test_admin_audience_page_counts_and_streams_csv(admin_user, client, commercial):
    from django.urls import reverse

    good = factories.contact(email="=cmd@evil.example")
    marketing_consent(good)
    opt_in(good, commercial)
    bad = factories.contact()
    mlist = marketing_list_save(marketing_list=MarketingList(name="S", list_type="static"))
    marketing_list_members_change(marketing_list=mlist, add=[good.pk, bad.pk])
    client.force_login(admin_user)
    url = reverse("admin:marketing_lists_marketinglist_audience", args=[mlist.pk])

    page = client.get(url, {"channel": "email", "purpose": commercial.pk})
    assert "Excluded: <code>insufficient_consent_level</code>" in page.text

    csv = b"".join(
        client.get(
            url, {"channel": "email", "purpose": commercial.pk, "format": "csv"}
        ).streaming_content
    ).decode()
    lines = csv.strip().splitlines()
    assert lines[0] == "member_type,member_id,address,allowed,reason"
    assert f"contact,{good.pk},'=cmd@evil.example,true,opted_in" in lines
    assert f"contact,{bad.pk},{bad.email.lower()},false,insufficient_consent_level" in lines
