"""The admin edits the customer-facing texts in every page language (DESIGN §3.3)."""

import pytest

from consent.models import ComplianceProfile, Topic
from tests import factories

pytestmark = pytest.mark.django_db
LANGUAGES = ("en", "nl", "fr", "de")


@pytest.fixture
def commercial():
    return ComplianceProfile.objects.default().purposes.get(kind="commercial")


def purpose_form(purpose, **changes) -> dict:
    data = {
        "profile": purpose.profile_id,
        "kind": purpose.kind,
        "consent_model": purpose.consent_model,
        "required_level": purpose.required_level,
        **{f"name_{lang}": getattr(purpose, f"name_{lang}") or "" for lang in LANGUAGES},
        **{f"description_{lang}": "" for lang in LANGUAGES},
        "topics-TOTAL_FORMS": "0",
        "topics-INITIAL_FORMS": "0",
        "topics-MIN_NUM_FORMS": "0",
        "topics-MAX_NUM_FORMS": "1000",
    }
    data.update(changes)
    return data


def new_topic(**fields) -> dict:
    return {"topics-TOTAL_FORMS": "1", **{f"topics-0-{k}": v for k, v in fields.items()}}


def test_the_purpose_page_shows_and_saves_every_language(admin_user, client, commercial):
    client.force_login(admin_user)
    url = f"/admin/consent/purpose/{commercial.pk}/change/"
    html = client.get(url).content.decode()
    for language in LANGUAGES:
        assert f'name="name_{language}"' in html and f'name="description_{language}"' in html
    assert 'value="Commerciële communicatie"' in html
    data = purpose_form(commercial, name_de="Werbung", description_fr="Nos offres.")
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    commercial.refresh_from_db()
    assert (commercial.name_en, commercial.name_de, commercial.description_fr) == (
        "Commercial",
        "Werbung",
        "Nos offres.",
    )


def test_the_english_name_is_required(admin_user, client, commercial):
    client.force_login(admin_user)
    url = f"/admin/consent/purpose/{commercial.pk}/change/"
    response = client.post(url, purpose_form(commercial, name_en="", name_nl="Reclame"))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["name_en"]
    commercial.refresh_from_db()
    assert (commercial.name_en, commercial.name_nl) == ("Commercial", "Commerciële communicatie")


def test_a_topic_added_inline_from_a_dutch_browser_gets_its_english_name(
    admin_user, client, commercial
):
    client.force_login(admin_user)
    url = f"/admin/consent/purpose/{commercial.pk}/change/"
    data = purpose_form(commercial, **new_topic(name_en="Webinars", active="on"))
    response = client.post(url, data, HTTP_ACCEPT_LANGUAGE="nl")
    assert response.status_code == 302
    topic = Topic.objects.get(purpose=commercial)
    assert (topic.name_en, topic.name_nl) == ("Webinars", None)


def test_an_inline_topic_needs_its_english_name(admin_user, client, commercial):
    client.force_login(admin_user)
    url = f"/admin/consent/purpose/{commercial.pk}/change/"
    data = purpose_form(commercial, **new_topic(name_en="", description_en="Live.", active="on"))
    response = client.post(url, data)
    assert response.status_code == 200
    assert not Topic.objects.filter(purpose=commercial).exists()


def test_the_profile_page_edits_the_organisation_and_the_page_texts(admin_user, client):
    client.force_login(admin_user)
    profile = factories.compliance_profile()
    html = client.get(f"/admin/consent/complianceprofile/{profile.pk}/change/").content.decode()
    assert 'name="organization_name"' in html
    for language in LANGUAGES:
        assert f'name="intro_text_{language}"' in html
        assert f'name="footer_text_{language}"' in html
