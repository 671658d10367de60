"""Pages and e-mails in English, Dutch, French and German (`?lang=` before Accept-Language)."""

import gettext
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.core import mail
from django.urls import reverse

from consent.models import ComplianceProfile
from tests import factories
from tests.preference_center.conftest import manage_path, unsubscribe_path

pytestmark = pytest.mark.django_db
LANGUAGES = ("nl", "fr", "de")


def html_lang(response) -> str:
    return re.search(r'<html lang="([^"]+)">', response.content.decode()).group(1)


def test_a_dutch_browser_gets_the_dutch_page(client, profile, catalog):
    response = client.get(
        manage_path(profile, "a@example.org"), HTTP_ACCEPT_LANGUAGE="nl-NL,nl;q=0.9"
    )
    html = response.content.decode()
    assert html_lang(response) == "nl"
    assert "Je voorkeuren" in html and "Voorkeuren opslaan" in html
    assert "Save my preferences" not in html
    assert response["Content-Language"] == "nl"


def test_the_lang_parameter_wins_over_the_browser(client, profile, catalog):
    path = reverse("preference_center:subscribe", args=[profile.slug]) + "?lang=fr"
    response = client.get(path, HTTP_ACCEPT_LANGUAGE="nl")
    html = response.content.decode()
    assert html_lang(response) == "fr"
    assert "Que souhaitez-vous recevoir" in html
    assert 'aria-current="true">Français' in html


def test_an_unknown_lang_parameter_falls_back_to_the_browser(client):
    response = client.get("/preferences/?lang=xx", HTTP_ACCEPT_LANGUAGE="de")
    assert html_lang(response) == "de"
    assert "E-Mail-Adresse" in response.content.decode()


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", "This link is no longer valid"),
        ("nl", "Deze link is niet meer geldig"),
        ("fr", "Ce lien n’est plus valide"),
        ("de", "Dieser Link ist nicht mehr gültig"),
    ],
)
def test_the_invalid_link_page_is_translated(client, language, expected):
    response = client.get(f"/unsubscribe/nonsense/?lang={language}")
    assert response.status_code == 404
    assert expected in response.content.decode()
    assert html_lang(response) == language


def test_the_unsubscribe_pages_are_translated(client, profile, catalog):
    path = unsubscribe_path(catalog["newsletter"], "a@example.org", catalog["events"])
    html = client.get(path + "?lang=de").content.decode()
    assert "Abmelden" in html and "„Events“" in html
    done = client.post(path + "?lang=de", {"action": "unsubscribe"}).content.decode()
    assert "Sie sind abgemeldet" in done


def test_emails_are_sent_in_the_language_of_the_request(
    client, profile, catalog, django_capture_on_commit_callbacks
):
    profile.double_opt_in = ComplianceProfile.DoubleOptIn.ALWAYS
    profile.save()
    factories.cp_consent(
        value="known@example.org", purpose_obj=catalog["offers"], status="opted_in"
    )
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            f"/preferences/?profile={profile.slug}",
            {"email": "known@example.org"},
            HTTP_ACCEPT_LANGUAGE="de",
        )
        client.post(
            reverse("preference_center:subscribe", args=[profile.slug]) + "?lang=fr",
            {"email": "new@example.org", "topic": [catalog["events"].pk]},
        )
    link_mail, confirm_mail = mail.outbox
    assert link_mail.subject == "Ihr Link zur Verwaltung Ihrer Einstellungen"
    assert "180 Tage gültig" in link_mail.body
    assert '<html lang="de">' in link_mail.alternatives[0].content
    assert confirm_mail.subject == "Merci de confirmer votre inscription"
    assert "28 jours" in confirm_mail.body
    assert "?lang=fr" in confirm_mail.body  # the confirmation page opens in French too


def test_every_catalog_is_complete_and_compiled():
    catalogs = {}
    for language in LANGUAGES:
        directory = Path(settings.BASE_DIR) / "locale" / language / "LC_MESSAGES"
        po_text = (directory / "django.po").read_text(encoding="utf-8")
        assert not re.search(r'^msgstr(\[\d\])? ""\n\n', po_text[po_text.index("\n\n") :], re.M)
        assert "#, fuzzy" not in po_text
        with (directory / "django.mo").open("rb") as mo:
            catalog = gettext.GNUTranslations(mo)._catalog
        catalogs[language] = {key for key in catalog if key}  # "" is the header
        assert all(catalog[key] for key in catalog)
    assert catalogs["nl"] == catalogs["fr"] == catalogs["de"]
    assert "Save my preferences" in catalogs["nl"]
