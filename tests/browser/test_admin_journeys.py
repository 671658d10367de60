"""The DPO's and staff's journeys in the admin, in a real browser at 1400 px (DESIGN §5), each
leaving screenshots: find a person by e-mail, read their page, cancel and reactivate a consent
with a reason, send a preference link, export a view, manage a static list, and load a file
while watching its progress page."""

import csv
import io
from pathlib import Path

import pytest
from django.core import mail

from common.audit import Evidence
from consent.loads import runner
from consent.loads.runner import consent_load_run
from consent.models import ComplianceProfile, ConsentLoad, DataConsent
from consent.services.contact_points import contact_point_consent_set
from marketing_lists.models import MarketingList
from marketing_lists.services import marketing_list_save
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)
DESKTOP = {"width": 1400, "height": 900}


@pytest.fixture
def desk(chromium, live_server, django_user_model):
    """A DPO's browser, signed in, at 1400 px."""
    django_user_model.objects.create_superuser("dpo-browser", password="pw-browser-1")
    context = chromium.new_context(viewport=DESKTOP, locale="en-GB", accept_downloads=True)
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "dpo-browser")
    page.fill("#id_password", "pw-browser-1")
    page.click("input[type=submit]")
    page.wait_for_selector("#content")
    yield page
    context.close()


@pytest.fixture
def commercial(db):
    """The default profile's Commercial purpose (a transactional test database starts empty)."""
    profile = ComplianceProfile.objects.filter(is_default=True).first()
    if profile is None:
        profile = factories.compliance_profile(name="Default", slug="default", is_default=True)
    purpose = profile.purposes.filter(name="Commercial").first()
    return purpose or factories.purpose(profile=profile, name="Commercial", required_level=1)


@pytest.fixture
def maud(commercial):
    contact = factories.contact(first_name="Maud", last_name="Wagner", email="maud@example.org")
    policy = factories.policy(name="General consent", consent_level=1)
    consent = factories.consent(subject=contact, policy_obj=policy)
    contact_point_consent_set(
        channel="email",
        value=contact.email,
        purpose=commercial,
        status="opted_in",
        evidence=Evidence(source="form", reason="web sign-up"),
    )
    return {"contact": contact, "consent": consent}


def test_find_a_person_by_email_and_read_their_page(desk, live_server, maud, screenshot):
    desk.goto(f"{live_server.url}/admin/")
    screenshot(desk, "admin-dashboard")
    desk.goto(f"{live_server.url}/admin/subjects/contact/")
    desk.fill("#searchbar", "MAUD@example.org")
    desk.press("#searchbar", "Enter")
    desk.wait_for_selector("#result_list")
    screenshot(desk, "admin-contacts-search")
    desk.click("#result_list a:has-text('Maud Wagner')")
    desk.wait_for_selector("#consent-center")
    screenshot(desk, "admin-contact-page")

    center = desk.inner_text("#consent-center")
    assert "maud@example.org" in center.lower() and "Commercial" in center
    assert "Will send" in center or "Won't send" in center
    assert desk.inner_text(".field-data_protection_consent_in_words").strip().endswith("Explicit")


def test_cancel_and_reactivate_a_consent_with_a_reason(desk, live_server, maud, screenshot):
    consent = maud["consent"]
    desk.goto(f"{live_server.url}/admin/consent/dataconsent/{consent.pk}/change/")
    screenshot(desk, "admin-data-consent")
    desk.click("a.state-cancel")
    desk.wait_for_selector("textarea[name=reason]")
    assert "every contact method" in desk.inner_text(".side-effect")
    screenshot(desk, "admin-data-consent-cancel")
    desk.fill("textarea[name=reason]", "Withdrew on the phone")
    desk.click("input[type=submit][value=Cancel]")
    desk.wait_for_selector(".messagelist")
    assert "Contact methods switched off for Maud Wagner" in desk.inner_text(".messagelist")
    desk.click("a.state-reactivate")
    desk.fill("textarea[name=reason]", "Gave it again in the shop")
    desk.click("input[type=submit][value=Reactivate]")
    desk.wait_for_selector(".messagelist")
    screenshot(desk, "admin-data-consent-reactivated")

    reasons = list(
        DataConsent.history.filter(id=consent.pk)
        .order_by("history_date")
        .values_list("history_change_reason", flat=True)
    )
    assert reasons[-2:] == ["Withdrew on the phone", "Gave it again in the shop"]


def test_send_a_preference_link_from_the_subject_page(desk, live_server, maud, screenshot):
    desk.goto(f"{live_server.url}/admin/subjects/contact/{maud['contact'].pk}/change/")
    desk.click("text=Send preference link")
    desk.wait_for_selector("select[name=language]")
    desk.select_option("select[name=language]", "nl")
    screenshot(desk, "admin-send-preference-link")
    desk.click("input[type=submit][value='Send the link']")
    desk.wait_for_selector(".messagelist")

    assert "on its way to maud@example.org" in desk.inner_text(".messagelist")
    assert [message.to for message in mail.outbox] == [["maud@example.org"]]


def test_export_a_view_as_csv(desk, live_server, maud, screenshot):
    factories.contact(first_name="No", last_name="Consent")
    desk.goto(f"{live_server.url}/admin/subjects/contact/?view=missing_consent")
    assert desk.inner_text("h1") == "Data Protection Contacts Missing Consent"
    screenshot(desk, "admin-contacts-missing-consent")
    with desk.expect_download() as download:
        desk.click("a.exportlink")
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))

    assert [row["Last name"] for row in rows] == ["Consent"]


def test_manage_a_static_list(desk, live_server, maud, screenshot):
    fair = marketing_list_save(
        marketing_list=MarketingList(
            name="Fair visitors", list_type="static", member_type="contact"
        )
    )
    desk.goto(f"{live_server.url}/admin/marketing_lists/marketinglist/{fair.pk}/change/")
    screenshot(desk, "admin-static-list")
    desk.click("text=Members")
    desk.fill("textarea[name=members]", "maud@example.org")
    desk.click("input[name=add]")
    desk.wait_for_selector("#member_list a:has-text('Maud Wagner')")
    screenshot(desk, "admin-static-list-members")
    desk.check("input[name=remove]")
    desk.click("input[value='Remove selected']")
    desk.wait_for_selector("text=This list has no members yet.")

    assert not fair.members.exists()


def test_load_a_file_and_watch_its_progress(
    desk, live_server, commercial, monkeypatch, screenshot, tmp_path
):
    # The job is started by this test instead of a broker, so the page is seen before it runs.
    monkeypatch.setattr(runner, "_dispatch", lambda load: None)
    sample = tmp_path / "consents.csv"
    sample.write_text(
        "channel,value,purpose,topic,status,source,reason,captured_at,requested_by\n"
        "email,first@example.org,Commercial,,opted_in,,,2026-03-03T09:00:00,\n"
        "email,second@example.org,Commercial,,opted_out,,,2026-03-03T09:00:00,\n"
    )
    desk.goto(f"{live_server.url}/admin/consent/consentload/add/")
    screenshot(desk, "admin-load-upload")
    desk.set_input_files("input[name=file]", str(sample))
    desk.click("#upload-form input[type=submit]")
    desk.wait_for_selector("#load-progress")
    screenshot(desk, "admin-load-progress")
    preview = ConsentLoad.objects.get()
    consent_load_run(load=preview)  # the worker's job, while the page refreshes itself
    desk.wait_for_selector("text=Confirm", timeout=20_000)
    screenshot(desk, "admin-load-preview")

    assert ConsentLoad.objects.get().counts["opt_ins"] == 1
