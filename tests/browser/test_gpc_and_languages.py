"""Global Privacy Control and the customer's language in a real browser (DESIGN §3.3, §3.6):
Chromium sends `Sec-GPC: 1` or an Accept-Language, at phone width (390 px) and on a 1400-px
screen, with screenshots in artifacts/screenshots/."""

import json
import re

import pytest
from django.urls import reverse

from common.audit import Source
from consent.models import ContactPointConsent, Purpose
from consent.services.configuration import configuration_save
from consent.translation import standard_texts
from preference_center.tokens import AddressLink
from tests import factories
from tests.browser.conftest import PHONE

pytestmark = pytest.mark.django_db(transaction=True)
ADDRESS = "jane@example.org"
DESKTOP = {"width": 1400, "height": 900}
NEWSLETTER = {"nl": "Nieuwsbrief", "fr": "Lettre d’information", "de": "Newsletter"}


@pytest.fixture
def world(live_server):
    profile = factories.compliance_profile(
        name="Acme",
        organization_name="Acme Europe B.V.",
        slug="acme",
        sender_name="Acme Stores",
        notice_url="https://acme.example/privacy",
        notice_version="2026-01",
        intro_text="We only send you what you have chosen.",
        intro_text_nl="We sturen je alleen wat je hebt gekozen.",
        intro_text_fr="Nous ne vous envoyons que ce que vous avez choisi.",
        intro_text_de="Wir senden Ihnen nur, was Sie ausgewählt haben.",
    )
    commercial = factories.purpose(profile=profile, name="Commercial")
    tracking = factories.purpose(profile=profile, name="Tracking", kind=Purpose.Kind.TRACKING)
    topics = [
        factories.topic(purpose_obj=commercial, name=name)
        for name in ("Newsletter", "Events", "Training courses")
    ]
    for obj in (commercial, tracking, *topics):
        configuration_save(obj, standard_texts(obj), user=None, source=Source.LOADED)
    factories.cp_consent(value=ADDRESS, purpose_obj=commercial, status="opted_in")
    factories.cp_consent(value=ADDRESS, purpose_obj=commercial, topic=topics[0], status="opted_in")
    factories.cp_consent(value=ADDRESS, purpose_obj=tracking, status="opted_in")
    path = reverse(
        "preference_center:manage", args=[AddressLink(profile.pk, "email", ADDRESS).dumps()]
    )
    return {"profile": profile, "tracking": tracking, "manage": live_server.url + path}


def browser_page(chromium, viewport, **options):
    context = chromium.new_context(viewport=viewport, device_scale_factor=1, **options)
    context.set_default_timeout(15_000)
    return context, context.new_page()


def test_a_gpc_browser_sees_tracking_off_and_saving_records_the_opt_out(
    chromium, screenshot, live_server, world
):
    tracking = world["tracking"]
    for viewport, name in ((DESKTOP, "gpc-manage-1400"), (PHONE, "gpc-manage-390")):
        context, page = browser_page(
            chromium, viewport, locale="en-GB", extra_http_headers={"Sec-GPC": "1"}
        )
        page.goto(world["manage"])
        page.get_by_text("we have honoured it: tracking is off for this address").wait_for()
        box = page.locator(f"#tracking-{tracking.pk}")
        assert box.is_disabled() and not box.is_checked()
        assert "Acme Europe B.V." in page.locator(".brand").inner_text()
        screenshot(page, name)
        context.close()
    assert ContactPointConsent.objects.get(value=ADDRESS, purpose=tracking).status == "opted_in"

    context, page = browser_page(
        chromium, DESKTOP, locale="en-GB", extra_http_headers={"Sec-GPC": "1"}
    )
    page.goto(world["manage"])
    page.get_by_role("button", name="Save my preferences").click()
    page.get_by_text("Your preferences have been saved.").wait_for()
    screenshot(page, "gpc-manage-saved-1400")
    record = ContactPointConsent.objects.get(value=ADDRESS, purpose=tracking)
    assert (record.status, record.source) == ("opted_out", Source.GPC)
    assert record.history.filter(history_source=Source.GPC).count() == 1

    page.goto(f"{live_server.url}/.well-known/gpc.json")
    assert json.loads(page.locator("body").inner_text())["gpc"] is True
    context.close()


def test_without_gpc_the_browser_sees_no_tracking_choice(chromium, world):
    context, page = browser_page(chromium, DESKTOP, locale="en-GB")
    page.goto(world["manage"])
    page.get_by_role("heading", name="Your preferences").wait_for()
    assert page.locator(f"#tracking-{world['tracking'].pk}").count() == 0
    assert "Global Privacy Control" not in page.content()
    context.close()


@pytest.mark.parametrize(
    ("locale", "heading", "texts"),
    [
        (
            "nl-NL",
            "Je voorkeuren",
            [
                "Commerciële communicatie",
                "Nieuwsbrief",
                "Trainingen en cursussen",
                "We sturen je alleen wat je hebt gekozen.",
                "verwerkingsverantwoordelijke",
            ],
        ),
        (
            "fr-FR",
            "Vos préférences",
            [
                "Communications commerciales",
                "Lettre d’information",
                "Formations",
                "Nous ne vous envoyons que ce que vous avez choisi.",
                "responsable du traitement",
            ],
        ),
        (
            "de-DE",
            "Ihre Einstellungen",
            [
                "Werbliche Kommunikation",
                "Veranstaltungen",
                "Schulungen und Kurse",
                "Wir senden Ihnen nur, was Sie ausgewählt haben.",
                "Verantwortlich für",
            ],
        ),
    ],
)
def test_the_manage_page_in_the_browser_language(
    chromium, screenshot, world, locale, heading, texts
):
    language = locale[:2]
    for viewport, width in ((DESKTOP, 1400), (PHONE, 390)):
        context, page = browser_page(chromium, viewport, locale=locale)
        page.goto(world["manage"])
        page.get_by_role("heading", name=heading).wait_for()
        assert page.locator("html").get_attribute("lang") == language
        body = page.locator("body").inner_text()
        for text in texts:
            assert text in body, (locale, text)
        assert not re.search(r"\bTraining courses\b|\bCommercial\b", body)
        newsletter = page.get_by_role("checkbox", name=re.compile(NEWSLETTER[language]))
        assert newsletter.is_checked()
        screenshot(page, f"manage-{language}-{width}")
        context.close()


def test_the_lang_parameter_switches_the_sign_up_page(chromium, screenshot, live_server, world):
    context, page = browser_page(chromium, DESKTOP, locale="en-GB")
    page.goto(f"{live_server.url}/subscribe/acme/")
    page.get_by_role("link", name="Deutsch").click()
    page.get_by_role("heading", name="Abonnieren").wait_for()
    body = page.locator("body").inner_text()
    assert "Veranstaltungen" in body and "Unser monatlicher Newsletter" in body
    screenshot(page, "subscribe-de-1400")
    context.close()
