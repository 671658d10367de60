"""DESIGN §5 (and the view table of §3.2): the admin as an external check sees it."""

import html
import re

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from tests import factories

# The view table of DESIGN §3.2, labels exactly (the parenthesised explanations are not labels).
VIEW_TABLE = {
    "subjects_lead": {
        "active": "Data Protection Active Leads",
        "all": "Data Protection All Leads",
        "anonymized": "Data Protection Anonymized Leads",
        "disqualified": "Data Protection Disqualified Leads",
        "missing_consent": "Data Protection Leads Missing Consent",
        "qualified": "Data Protection Qualified Leads",
    },
    "subjects_contact": {
        "active": "Data Protection Active Contacts",
        "all": "Data Protection All Contacts",
        "anonymized": "Data Protection Anonymized Contacts",
        "missing_consent": "Data Protection Contacts Missing Consent",
        "inactive": "Data Protection Inactive Contacts",
    },
    "consent_dataconsent": {
        "active": "Active Data Consents",
        "all": "All Data Consents",
        "expiring_2_weeks": "Expiring Data Consents - Next 2 weeks",
        "expiring_this_year": "Expiring Data Consents - This Year",
        "inactive": "Inactive Data Consents",
        "inactive_anonymized": "Inactive Data Consents Anonymized",
        "inactive_cancelled": "Inactive Data Consents Cancelled",
        "inactive_expired": "Inactive Data Consents Expired",
    },
    "marketing_lists_marketinglist": {
        "all": "Data Protection All Marketing Lists",
        "static_accounts_not_processing": (
            "Data Protection Static Lists including Accounts not Processing Data"
        ),
        "static_contacts_without_consent": (
            "Data Protection Static Lists including Contacts without Consent"
        ),
        "static_leads_without_consent": (
            "Data Protection Static Lists including Leads without Consent"
        ),
    },
}


def filter_choices(page: str) -> dict[str, str]:
    """The `?view=` links the changelist's "Data Protection view" filter offers: {code: label}."""
    section = page.split("Data Protection view", 1)[1].split("</ul>", 1)[0]
    links = re.findall(r'<a href="\?(?:[^"]*&amp;)?view=([\w]+)[^"]*"[^>]*>([^<]+)</a>', section)
    return {code: html.unescape(label).strip() for code, label in links}


@pytest.mark.parametrize("changelist", list(VIEW_TABLE))
def test_changelist_view_filter_offers_exactly_the_design_table(admin_client, changelist):
    page = admin_client.get(reverse(f"admin:{changelist}_changelist")).text
    assert filter_choices(page) == VIEW_TABLE[changelist]


@pytest.mark.parametrize("changelist", list(VIEW_TABLE))
def test_an_unknown_view_code_is_an_error_never_the_full_list(admin_client, changelist):
    response = admin_client.get(reverse(f"admin:{changelist}_changelist"), {"view": "nope"})

    assert response.status_code == 400
    page = html.unescape(response.text)
    assert "There is no Data Protection view “nope”" in page
    assert 'id="result_list"' not in page  # no rows at all, filtered or not
    for label in VIEW_TABLE[changelist].values():
        assert label in page  # the views that do exist, as links


def test_dashboard_links_every_view_of_the_table(admin_client):
    page = html.unescape(admin_client.get(reverse("admin:index")).text)
    for changelist, views in VIEW_TABLE.items():
        base = reverse(f"admin:{changelist}_changelist")
        for code, label in views.items():
            assert f'<a href="{base}?view={code}">{label}</a>' in page, (changelist, code)


def test_groups_exist_after_migrate_with_distinct_permissions(db):
    perms = {
        group.name: set(group.permissions.values_list("content_type__app_label", "codename"))
        for group in Group.objects.filter(name__in=["DPO", "Marketing", "Service desk"])
    }
    assert set(perms) == {"DPO", "Marketing", "Service desk"}
    assert ("consent", "view_confidential_dataconsent") in perms["DPO"]
    assert ("subjects", "anonymize_contact") in perms["DPO"]
    assert ("subjects", "anonymize_contact") not in perms["Marketing"] | perms["Service desk"]
    assert ("consent", "view_confidential_dataconsent") not in perms["Service desk"]
    assert ("marketing_lists", "change_marketinglist") in perms["Marketing"]
    assert ("subjects", "add_contact") in perms["Service desk"]


@pytest.mark.parametrize(
    ("make", "actions"),
    [
        (factories.lead, ("qualify", "convert", "disqualify", "anonymize")),
        (factories.contact, ("deactivate", "anonymize")),
    ],
)
def test_subject_page_offers_timeline_access_report_and_verbal_consent(admin_client, make, actions):
    subject = make()
    opts = subject._meta
    page = admin_client.get(
        reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[subject.pk])
    ).text
    for name in ("timeline", "access_report"):
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_{name}", args=[subject.pk])
        assert f'href="{url}"' in page, name
    assert "verbal" in page.lower()
    for action in actions:
        assert action in page.lower(), action
    for label in ("Data Protection Consent", "Consent Level", "Maximum Expiry Date"):
        assert label in page, label


def test_data_consents_cannot_be_deleted_through_the_admin(admin_client, contact, policy):
    consent = factories.consent(subject=contact, policy_obj=policy)
    url = reverse("admin:consent_dataconsent_delete", args=[consent.pk])
    assert admin_client.post(url, {"post": "yes"}).status_code == 403
    changelist = admin_client.get(reverse("admin:consent_dataconsent_changelist")).text
    assert 'value="delete_selected"' not in changelist
    consent.refresh_from_db()


@pytest.mark.parametrize("changelist", ["subjects_lead", "subjects_contact"])
def test_subject_changelists_head_the_derived_fields_by_their_design_names(
    admin_client, policy, changelist
):
    subject = (factories.lead if changelist == "subjects_lead" else factories.contact)()
    factories.consent(subject=subject, policy_obj=policy)
    url = reverse(f"admin:{changelist}_changelist")
    page = admin_client.get(url).text
    headers = [
        html.unescape(text).strip()
        for text in re.findall(r'<div class="text">(?:<a[^>]*>|<span>)([^<]+)<', page)
    ]
    for label in ("Data Protection Consent", "Consent Level", "Maximum Expiry Date"):
        assert label in headers, label
    assert "(4) Marketing" in page
    for order in ("-5", "-6", "-7"):  # the columns still sort
        assert admin_client.get(url, {"o": order}).status_code == 200


def test_view_site_and_the_bare_host_lead_somewhere_useful(admin_client):
    index = admin_client.get(reverse("admin:index")).text
    assert 'href="/preferences/"' in index  # "View site": what customers see
    assert admin_client.get("/preferences/").status_code == 200
    root = admin_client.get("/")
    assert (root.status_code, root["Location"]) == (302, "/admin/")
