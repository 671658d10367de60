"""The profile's, purposes' and topics' own texts on the public pages, in the visitor's language
(DESIGN §3.3, §3.6), with the organisation's name, the sender and the privacy notice."""

import pytest
from django.urls import reverse

from tests.preference_center.conftest import manage_path, unsubscribe_path

pytestmark = pytest.mark.django_db
ADDRESS = "jane@example.org"


@pytest.fixture
def translated(profile, catalog):
    profile.organization_name = "Acme Retail B.V."
    profile.intro_text_nl = "Kies wat je interesseert."
    profile.intro_text_de = "Wählen Sie, was Sie interessiert."
    profile.footer_text_fr = "Acme, 1 rue de la Paix, Paris."
    profile.save()
    newsletter, events = catalog["newsletter"], catalog["events"]
    newsletter.name_nl, newsletter.name_fr, newsletter.name_de = (
        "Nieuwsbrief",
        "Lettre",
        "Rundbrief",
    )
    newsletter.description_en = "Our monthly letter."
    newsletter.description_de = "Unser Monatsbrief."
    newsletter.save()
    events.name_nl, events.name_fr, events.name_de = "Evenementen", "Événements", "Veranstaltungen"
    events.description_fr = "Des invitations."
    events.save()
    return catalog


def page(client, path: str, **headers) -> str:
    response = client.get(path, **headers)
    assert response.status_code == 200
    return response.content.decode()


def test_the_manage_page_shows_the_texts_in_the_lang_parameter_language(
    client, profile, translated
):
    html = page(client, manage_path(profile, ADDRESS) + "?lang=de")
    assert "<legend>Rundbrief</legend>" in html and "Unser Monatsbrief." in html
    assert "Veranstaltungen" in html and "Wählen Sie, was Sie interessiert." in html
    assert "Invitations." in html  # no German description: the English one
    assert "Product news" in html  # no German name: the English one
    assert "Newsletter" not in html and "Pick what interests you." not in html


def test_the_sign_up_page_follows_the_browser_language(client, profile, translated):
    path = reverse("preference_center:subscribe", args=[profile.slug])
    html = page(client, path, HTTP_ACCEPT_LANGUAGE="fr-BE,fr;q=0.9")
    assert "<legend>Lettre</legend>" in html
    assert "Événements" in html and "Des invitations." in html
    assert "Acme, 1 rue de la Paix, Paris." in html  # the French footer text
    # English has no footer text of its own: none, never the French one.
    english = page(client, path, HTTP_ACCEPT_LANGUAGE="en")
    assert "<legend>Newsletter</legend>" in english and "Acme, 1 rue" not in english


def test_the_unsubscribe_page_names_the_topic_in_the_visitor_language(client, profile, translated):
    html = page(client, unsubscribe_path(translated["newsletter"], ADDRESS, translated["events"]))
    assert "messages about “Events”" in html
    dutch = page(
        client,
        unsubscribe_path(translated["newsletter"], ADDRESS, translated["events"]) + "?lang=nl",
    )
    assert "berichten over ‘Evenementen’" in dutch


@pytest.mark.parametrize(
    ("language", "controller"),
    [
        ("en", "Acme Retail B.V. is the controller of your personal data."),
        ("nl", "Acme Retail B.V. is de verwerkingsverantwoordelijke voor je persoonsgegevens."),
        ("fr", "Acme Retail B.V. est responsable du traitement de vos données personnelles."),
        ("de", "Verantwortlich für die Verarbeitung Ihrer personenbezogenen Daten ist Acme"),
    ],
)
def test_every_page_names_the_organisation_the_sender_and_the_notice(
    client, profile, translated, language, controller
):
    html = page(client, f"/preferences/?profile=acme&lang={language}")
    assert '<p class="brand">Acme Retail B.V.</p>' in html
    assert controller in html
    assert "Acme Stores" in html  # the sender, beside the organisation
    assert 'href="https://acme.example/privacy"' in html and "n3" in html


def test_without_an_organisation_name_the_sender_heads_the_page(client, profile, catalog):
    html = page(client, "/preferences/?profile=acme")
    assert '<p class="brand">Acme Stores</p>' in html
    assert "controller of your personal data" not in html
