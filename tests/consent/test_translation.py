"""Customer-facing texts per page language (DESIGN §3.3): consent/translation.py, its data
migration, and what the rest of consent must keep doing once `name` depends on the language."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone, translation

from consent.decision.single import decide
from consent.loads.runner import consent_load_create, consent_load_run
from consent.models import ComplianceProfile, Purpose, Topic
from consent.translation import STANDARD_TEXTS, standard_texts
from tests import factories

pytestmark = pytest.mark.django_db

HEADER = "channel,value,purpose,topic,status,source,reason,captured_at,requested_by\n"


@pytest.fixture
def default_profile():
    return ComplianceProfile.objects.default()


def names_in(language: str, objects) -> list[str]:
    with translation.override(language):
        return [obj.name for obj in objects]


def test_the_fresh_install_purposes_have_dutch_french_and_german_names(default_profile):
    purposes = list(default_profile.purposes.order_by("pk"))
    assert names_in("en", purposes) == ["Commercial", "Transactional", "Tracking"]
    assert names_in("nl", purposes) == [
        "Commerciële communicatie",
        "Servicebereichten",
        "Meten en volgen",
    ]
    assert names_in("fr", purposes) == [
        "Communications commerciales",
        "Messages de service",
        "Mesure et suivi",
    ]
    assert names_in("de", purposes) == [
        "Werbliche Kommunikation",
        "Servicemitteilungen",
        "Nutzungsanalyse und Tracking",
    ]


def test_every_page_language_has_its_columns(default_profile):
    purpose = default_profile.purposes.get(kind="commercial")
    assert purpose.name_en == "Commercial"  # the base text became the English text
    for language in ("en", "nl", "fr", "de"):
        for field in ("name", "description"):
            Purpose._meta.get_field(f"{field}_{language}")
            Topic._meta.get_field(f"{field}_{language}")
        for field in ("intro_text", "footer_text"):
            ComplianceProfile._meta.get_field(f"{field}_{language}")


def test_a_text_without_its_translation_falls_back_to_english():
    topic = factories.topic(name="Webinars", description="Live sessions.", name_nl="Webinars NL")
    with translation.override("de"):
        assert (topic.name, topic.description) == ("Webinars", "Live sessions.")
    with translation.override("nl"):
        assert (topic.name, topic.description) == ("Webinars NL", "Live sessions.")


def test_a_page_text_without_its_translation_falls_back_to_the_base_text_only():
    profile = factories.compliance_profile(footer_text_fr="Paris.")
    with translation.override("fr"):
        assert profile.footer_text == "Paris."
    with translation.override("nl"):
        assert profile.footer_text == ""  # never another language's text


def test_a_name_given_in_a_dutch_request_is_also_the_english_base_text():
    with translation.override("nl"):
        purpose = factories.purpose(name="Acties")
    assert (purpose.name_en, purpose.name_nl) == ("Acties", "Acties")


def test_history_keeps_the_base_text_and_leaves_the_translations_out():
    topic = factories.topic(name="Webinars")
    topic.name_fr = "Webinaires"
    topic.save()
    history = topic.history.order_by("history_id")
    assert [row.name for row in history] == ["Webinars", "Webinars"]
    assert not hasattr(history.model, "name_fr")


def test_the_decision_reads_its_catalog_in_any_page_language():
    purpose = factories.purpose(name="Offers", name_nl="Aanbiedingen")
    topic = factories.topic(purpose_obj=purpose, name="Events", name_nl="Evenementen")
    english = decide(channel="email", value="a@example.org", purpose=purpose.pk, topic=topic.pk)
    with translation.override("nl"):
        dutch = decide(channel="email", value="a@example.org", purpose=purpose.pk, topic=topic.pk)
    assert (dutch.allowed, dutch.reason) == (english.allowed, english.reason)
    assert dutch.reason == "no_purpose_opt_in"


def test_a_load_names_purposes_in_english_whatever_the_request_language(default_profile):
    text = HEADER + "email,ada@example.org,Commercial,,opted_in,,,,\n"
    with translation.override("fr"):
        created = consent_load_create(file=text.encode(), file_name="a.csv", dispatch=False)
        result = consent_load_run(load=created)
    assert result.status == "done", (result.message, result.row_errors)
    assert result.counts["opt_ins"] == 1


def test_standard_texts_fill_only_what_is_missing(default_profile):
    commercial = default_profile.purposes.get(kind="commercial")
    commercial.name_de = "Angebote"
    texts = standard_texts(commercial)
    assert "name_de" not in texts  # kept: somebody chose it
    assert texts["description_de"] == STANDARD_TEXTS["Commercial"]["description_de"]
    assert standard_texts(factories.topic(name="Something else")) == {}


def test_saving_in_another_language_keeps_the_base_text_and_its_history_english():
    """A Dutch-speaking admin edits the Dutch name: the base column and the history row keep
    the English text (modeltranslation alone would save the Dutch one there)."""
    purpose = factories.purpose(name="Offers")
    with translation.override("nl"):
        purpose = Purpose.objects.get(pk=purpose.pk)
        purpose.name_nl = "Aanbiedingen"
        purpose.save()
        assert purpose.name == "Aanbiedingen"
    stored = Purpose.objects.rewrite(False).filter(pk=purpose.pk)
    assert list(stored.values_list("name", "name_en", "name_nl")) == [
        ("Offers", "Offers", "Aanbiedingen")
    ]
    assert list(purpose.history.order_by("history_id").values_list("name", flat=True)) == [
        "Offers",
        "Offers",
    ]


def test_an_explanation_names_purposes_in_english_now_and_as_they_stood(
    default_profile, django_assert_max_num_queries
):
    commercial = default_profile.purposes.get(kind="commercial")
    start = timezone.now() + timedelta(days=1)
    with time_machine.travel(start, tick=False):
        factories.cp_consent(value="a@example.org", purpose_obj=commercial, status="opted_in")
    with time_machine.travel(start + timedelta(minutes=10), tick=False):
        commercial.name = "Offers"  # renamed later: the past explanation names the old name
        commercial.save()
    with time_machine.travel(start + timedelta(minutes=20), tick=False):
        for language in ("en", "nl", "de"):
            with translation.override(language):
                with django_assert_max_num_queries(6):
                    past = decide(
                        channel="email",
                        value="a@example.org",
                        purpose=commercial.pk,
                        as_of=start + timedelta(minutes=5),
                        explain=True,
                    )
                now = decide(
                    channel="email", value="a@example.org", purpose=commercial.pk, explain=True
                )
            assert past.explanation.purpose_name == "Commercial", language
            assert now.explanation.purpose_name == "Offers", language
