"""Translated texts of compliance profiles, purposes and topics through the API
(`name_nl`, `description_fr`, …; DESIGN §3.3)."""

import pytest

from consent.models import ComplianceProfile, Topic

PROFILES = "/api/v1/compliance-profiles/"
PURPOSES = "/api/v1/purposes/"
TOPICS = "/api/v1/topics/"
LANGUAGES = ("en", "nl", "fr", "de")


@pytest.fixture
def default_profile(db):
    return ComplianceProfile.objects.default()


def test_purposes_show_their_names_in_every_language(as_dpo, default_profile):
    commercial = default_profile.purposes.get(kind="commercial")
    body = as_dpo.get(f"{PURPOSES}{commercial.pk}/").json()
    assert (body["name"], body["name_en"], body["name_nl"]) == (
        "Commercial",
        "Commercial",
        "Commerciële communicatie",
    )
    assert (body["name_fr"], body["name_de"]) == (
        "Communications commerciales",
        "Werbliche Kommunikation",
    )
    assert {f"description_{language}" for language in LANGUAGES} <= body.keys()


def test_a_topic_is_created_and_translated_through_the_api(as_dpo, default_profile):
    commercial = default_profile.purposes.get(kind="commercial")
    created = as_dpo.post(
        TOPICS,
        {"purpose": commercial.pk, "name": "Webinars", "name_de": "Online-Seminare"},
        format="json",
    )
    assert created.status_code == 201, created.content
    url = f"{TOPICS}{created.json()['id']}/"
    patched = as_dpo.patch(url, {"description_fr": "Des sessions en direct."}, format="json")
    assert patched.status_code == 200, patched.content
    topic = Topic.objects.get(pk=created.json()["id"])
    assert (topic.name_en, topic.name_de, topic.description_fr) == (
        "Webinars",
        "Online-Seminare",
        "Des sessions en direct.",
    )
    assert topic.history.first().history_source == "api"


def test_a_profile_takes_its_organisation_and_page_texts_per_language(as_dpo, default_profile):
    url = f"{PROFILES}{default_profile.pk}/"
    response = as_dpo.patch(
        url,
        {"organization_name": "Acme Europe B.V.", "intro_text_nl": "Kies wat je wilt ontvangen."},
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["organization_name"] == "Acme Europe B.V."
    assert (body["intro_text_nl"], body["intro_text_fr"]) == ("Kies wat je wilt ontvangen.", None)
    default_profile.refresh_from_db()
    assert default_profile.intro_text_nl == "Kies wat je wilt ontvangen."


def test_the_schema_documents_the_translated_fields(as_dpo):
    schema = as_dpo.get("/api/v1/schema/?format=json").json()
    components = schema["components"]["schemas"]
    assert {"name_nl", "description_fr"} <= components["Topic"]["properties"].keys()
    assert {"name_de", "description"} <= components["Purpose"]["properties"].keys()
    assert {"organization_name", "footer_text_de"} <= components["ComplianceProfile"][
        "properties"
    ].keys()


def test_name_is_the_english_base_text_whatever_the_request_language(as_dpo, default_profile):
    commercial = default_profile.purposes.get(kind="commercial")
    dutch = {"HTTP_ACCEPT_LANGUAGE": "nl"}
    created = as_dpo.post(
        TOPICS, {"purpose": commercial.pk, "name": "Webinars"}, format="json", **dutch
    )
    assert created.status_code == 201, created.content
    topic = Topic.objects.get(pk=created.json()["id"])
    assert (topic.name_en, topic.name_nl) == ("Webinars", None)
    read = as_dpo.get(f"{PURPOSES}{commercial.pk}/", **dutch).json()
    assert (read["name"], read["name_nl"]) == ("Commercial", "Commerciële communicatie")


def test_a_put_that_leaves_out_a_translation_keeps_it(as_dpo, default_profile):
    commercial = default_profile.purposes.get(kind="commercial")
    body = {"profile": default_profile.pk, "name": "Commercial", "kind": "commercial"}
    response = as_dpo.put(f"{PURPOSES}{commercial.pk}/", body, format="json")
    assert response.status_code == 200, response.content
    commercial.refresh_from_db()
    assert (commercial.name_en, commercial.name_fr) == ("Commercial", "Communications commerciales")
