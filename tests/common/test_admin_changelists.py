"""The DPO's changelists (DESIGN §5 "Finding and reading"): a search box on every subject,
consent and contact-point list, date ranges, the chosen view's label as the heading, an unknown
view as an error, the expiring views' columns and order, and a streamed CSV of the same rows."""

import csv
import html
import io
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from common.audit import Evidence
from consent.models import DataConsent
from consent.services.contact_points import suppression_add
from consent.services.data_consents import data_consent_create
from tests import factories

CHANGELISTS = [
    "subjects_lead",
    "subjects_contact",
    "consent_dataconsent",
    "consent_contactpointconsent",
]


def rows_of(page: str) -> int:
    if 'id="result_list"' not in page:
        return 0
    body = page.split('id="result_list"', 1)[1].split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return body.count("<tr")


def csv_rows(response) -> list[dict]:
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture
def people(db):
    return {
        "ada": factories.contact(first_name="Ada", last_name="Lovelace", email="Ada@Example.org"),
        "grace": factories.contact(
            first_name="Grace", last_name="Hopper", email="grace@example.org", phone="+31612345678"
        ),
        "alan": factories.lead(first_name="Alan", last_name="Turing", email="alan@example.org"),
    }


@pytest.mark.parametrize("changelist", CHANGELISTS)
def test_every_subject_and_consent_list_has_a_search_box(admin_client, changelist):
    page = admin_client.get(reverse(f"admin:{changelist}_changelist")).text
    assert 'id="searchbar"' in page


@pytest.mark.parametrize(
    "term, found",
    [
        ("ADA@example.ORG", {"Lovelace"}),  # exact e-mail, any case
        ("06 1234 5678", {"Hopper"}),  # a phone number as people type it
        ("hop", {"Hopper"}),  # the start of a last name
        ("gra", {"Hopper"}),  # the start of a first name
        ("opper", set()),  # never a substring: that would scan a million rows
        ("nobody@example.org", set()),
    ],
)
def test_contact_search_is_exact_address_or_name_prefix(admin_client, people, term, found):
    page = admin_client.get(reverse("admin:subjects_contact_changelist"), {"q": term}).text
    shown = {name for name in ("Lovelace", "Hopper") if name in page}
    assert shown == found


def test_data_consents_are_found_by_their_subjects_address(admin_client, people, policy):
    mine = factories.consent(subject=people["grace"], policy_obj=policy)
    factories.consent(subject=people["ada"], policy_obj=policy)
    url = reverse("admin:consent_dataconsent_changelist")

    page = admin_client.get(url, {"q": "grace@example.org"}).text

    assert rows_of(page) == 1
    assert reverse("admin:consent_dataconsent_change", args=[mine.pk]) in page


def test_contact_point_search_finds_the_stored_form_of_a_typed_address(admin_client):
    purpose = factories.purpose()
    factories.cp_consent(value="ada@example.org", purpose_obj=purpose, status="opted_in")
    factories.cp_consent(value="bob@example.org", purpose_obj=purpose, status="opted_in")
    url = reverse("admin:consent_contactpointconsent_changelist")

    page = admin_client.get(url, {"q": "  ADA@Example.org "}).text

    assert rows_of(page) == 1 and "ada@example.org" in page


def test_the_chosen_view_is_the_page_heading(admin_client, people):
    page = admin_client.get(
        reverse("admin:subjects_contact_changelist"), {"view": "missing_consent"}
    ).text
    assert "<h1>Data Protection Contacts Missing Consent</h1>" in html.unescape(page)


def test_expiring_views_show_and_sort_by_valid_until(admin_client, people, policy):
    today = timezone.localdate()
    later = factories.consent(
        subject=people["ada"], policy_obj=policy, valid_until=today + timedelta(days=10)
    )
    sooner = factories.consent(
        subject=people["grace"], policy_obj=policy, valid_until=today + timedelta(days=2)
    )
    page = admin_client.get(
        reverse("admin:consent_dataconsent_changelist"), {"view": "expiring_2_weeks"}
    ).text

    headers = re.findall(r'<th scope="col" class="[^"]*column-(\w+)', page)
    assert headers[:2] == ["subject_link", "valid_until"]
    links = [
        page.index(reverse("admin:consent_dataconsent_change", args=[c.pk]))
        for c in (sooner, later)
    ]
    assert links == sorted(links)  # soonest first


def test_date_range_filter_keeps_the_days_asked_for(admin_client, people, policy):
    now = timezone.now()
    march = factories.consent(
        subject=people["ada"], policy_obj=policy, given_at=now - timedelta(days=40)
    )
    recent = factories.consent(subject=people["grace"], policy_obj=policy, given_at=now)
    url = reverse("admin:consent_dataconsent_changelist")
    day = (now - timedelta(days=40)).date().isoformat()

    page = admin_client.get(url, {"given_at__gte": day, "given_at__lt": day}).text

    assert reverse("admin:consent_dataconsent_change", args=[march.pk]) in page
    assert reverse("admin:consent_dataconsent_change", args=[recent.pk]) not in page


def test_a_malformed_date_is_an_error_not_a_500(admin_client, people):
    response = admin_client.get(
        reverse("admin:consent_dataconsent_changelist"), {"given_at__gte": "March"}
    )
    assert response.status_code in (200, 302)
    assert response.status_code == 302 or "errornote" in response.text


def test_export_streams_the_rows_of_the_view_with_labels(admin_client, people, policy):
    factories.consent(subject=people["ada"], policy_obj=policy)
    url = reverse("admin:subjects_contact_export")

    response = admin_client.get(url, {"view": "missing_consent"})

    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    rows = csv_rows(response)
    assert {row["Last name"] for row in rows} == {"Hopper"}  # Ada has a consent
    assert rows[0]["Data Protection Consent"] == "None"  # the label, not the code "none"


def test_export_neutralizes_formulas_but_keeps_phone_numbers_exact(admin_client, db):
    factories.contact(last_name="=HYPERLINK(1)", phone="+31687654321")

    rows = csv_rows(admin_client.get(reverse("admin:subjects_contact_export")))

    assert rows[0]["Last name"] == "'=HYPERLINK(1)"
    assert rows[0]["Phone"] == "+31687654321"  # an E.164 number stays exact


def test_export_applies_confidentiality(client, make_user, people, policy):
    owner = make_user("owner", perms=["consent.view_dataconsent"])
    other = make_user("other", perms=["consent.view_dataconsent"])
    data_consent_create(
        policy=policy,
        contact=people["ada"],
        confidential=True,
        owner_user=owner,
        evidence=Evidence(source="internal"),
    )
    factories.consent(subject=people["grace"], policy_obj=policy)
    url = reverse("admin:consent_dataconsent_export")

    client.force_login(other)
    seen_by_other = csv_rows(client.get(url))
    client.force_login(owner)
    seen_by_owner = csv_rows(client.get(url))

    assert len(seen_by_other) == 1 and len(seen_by_owner) == 2
    assert DataConsent.objects.count() == 2


def test_export_of_an_unknown_view_is_refused(admin_client, db):
    response = admin_client.get(reverse("admin:subjects_contact_export"), {"view": "nope"})
    assert response.status_code == 400


def test_suppressed_lookup_answers_for_a_typed_address_without_hashes(admin_client, db):
    suppression_add(channel="email", value="gone@example.org", reason="erased", user=None)
    url = reverse("admin:consent_suppression_lookup")

    suppressed = admin_client.get(url, {"channel": "email", "value": "GONE@example.org"}).text
    clean = admin_client.get(url, {"channel": "email", "value": "here@example.org"}).text

    assert "Suppressed since" in suppressed
    assert "Not suppressed" in clean
    assert not re.search(r"[0-9a-f]{64}", suppressed)  # no keyed hash on the page


def test_data_consents_of_a_lead_and_of_a_contact_are_both_found(admin_client, policy):
    lead = factories.lead(email="Lena@example.org")
    contact = factories.contact(email="lena@example.org")
    of_lead = factories.consent(subject=lead, policy_obj=policy)
    of_contact = factories.consent(subject=contact, policy_obj=policy)
    factories.consent(subject=factories.contact(email="other@example.org"), policy_obj=policy)
    url = reverse("admin:consent_dataconsent_changelist")

    page = admin_client.get(url, {"q": "LENA@example.org"}).text

    assert rows_of(page) == 2
    for consent in (of_lead, of_contact):
        assert reverse("admin:consent_dataconsent_change", args=[consent.pk]) in page
