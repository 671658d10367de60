"""Customer-facing texts in the page languages (DESIGN §3.3), with django-modeltranslation.

Each field below gets `<field>_en`, `_nl`, `_fr` and `_de` columns. `name_en` (the default
language) is the base text; reading `purpose.name` gives the active language's text, falling
back to English and then to any other translation (settings.MODELTRANSLATION_*). The admin and
the API edit every language; the public pages show the visitor's.
"""

import functools

from modeltranslation.translator import NotRegistered, TranslationOptions, register, translator

from common.audit import base_language
from consent.models import ComplianceProfile, Purpose, Topic


@register(ComplianceProfile)
class ComplianceProfileTranslation(TranslationOptions):
    fields = ("intro_text", "footer_text")


@register(Purpose)
class PurposeTranslation(TranslationOptions):
    fields = ("name", "description")


@register(Topic)
class TopicTranslation(TranslationOptions):
    fields = ("name", "description")


# The texts of the fresh install's purposes and of the usual topics, by base (English) name:
# the demo data and the data migration use them (the migration keeps its own frozen copy).
STANDARD_TEXTS: dict[str, dict[str, str]] = {
    "Commercial": {
        "description_en": "Offers, news and invitations from us.",
        "name_nl": "Commerciële communicatie",
        "description_nl": "Aanbiedingen, nieuws en uitnodigingen van ons.",
        "name_fr": "Communications commerciales",
        "description_fr": "Nos offres, actualités et invitations.",
        "name_de": "Werbliche Kommunikation",
        "description_de": "Angebote, Neuigkeiten und Einladungen von uns.",
    },
    "Transactional": {
        "description_en": "Messages about your orders, your account and our services.",
        "name_nl": "Servicebereichten",
        "description_nl": "Berichten over je bestellingen, je account en onze diensten.",
        "name_fr": "Messages de service",
        "description_fr": "Messages concernant vos commandes, votre compte et nos services.",
        "name_de": "Servicemitteilungen",
        "description_de": "Nachrichten zu Ihren Bestellungen, Ihrem Konto und unseren Leistungen.",
    },
    "Tracking": {
        "description_en": "Whether we may measure if you open our e-mails and click their links.",
        "name_nl": "Meten en volgen",
        "description_nl": "Of we mogen meten of je onze e-mails opent en op de links klikt.",
        "name_fr": "Mesure et suivi",
        "description_fr": "Si nous pouvons mesurer l’ouverture de nos e-mails et les clics "
        "sur leurs liens.",
        "name_de": "Nutzungsanalyse und Tracking",
        "description_de": "Ob wir messen dürfen, ob Sie unsere E-Mails öffnen und auf Links "
        "klicken.",
    },
    "Events": {
        "description_en": "Invitations to our events, webinars and trade fairs.",
        "name_nl": "Evenementen",
        "description_nl": "Uitnodigingen voor onze evenementen, webinars en beurzen.",
        "name_fr": "Événements",
        "description_fr": "Invitations à nos événements, webinaires et salons.",
        "name_de": "Veranstaltungen",
        "description_de": "Einladungen zu unseren Veranstaltungen, Webinaren und Messen.",
    },
    "Newsletter": {
        "description_en": "Our monthly newsletter: news, tips and offers.",
        "name_nl": "Nieuwsbrief",
        "description_nl": "Onze maandelijkse nieuwsbrief: nieuws, tips en aanbiedingen.",
        "name_fr": "Lettre d’information",
        "description_fr": "Notre lettre d’information mensuelle\u00a0: actualités, conseils et "
        "offres.",
        "name_de": "Newsletter",
        "description_de": "Unser monatlicher Newsletter: Neuigkeiten, Tipps und Angebote.",
    },
    "Training courses": {
        "description_en": "Announcements of new training courses and workshops.",
        "name_nl": "Trainingen en cursussen",
        "description_nl": "Aankondigingen van nieuwe trainingen, cursussen en workshops.",
        "name_fr": "Formations",
        "description_fr": "Annonces de nouvelles formations et de nouveaux ateliers.",
        "name_de": "Schulungen und Kurse",
        "description_de": "Ankündigungen neuer Schulungen, Kurse und Workshops.",
    },
}


def standard_texts(obj: Purpose | Topic) -> dict[str, str]:
    """The standard texts a purpose or topic of a standard name has no text for yet."""
    texts = STANDARD_TEXTS.get(obj.name_en or "", {})
    return {field: text for field, text in texts.items() if not getattr(obj, field)}


@functools.cache
def _translation_columns(model) -> tuple[tuple[str, str, bool], ...]:
    """(base field, translation column, is the base language's) of a registered model."""
    try:
        options = translator.get_options_for_model(model)
    except NotRegistered:
        return ()
    return tuple(
        (name, field.attname, field.language == base_language())
        for name, fields in options.all_fields.items()
        for field in fields
    )


def with_base_texts_only(instance):
    """An instance built from a history row, which keeps the base texts only (common.audit):
    its base-language columns get the base text and the others none, so reading `name` in any
    language gives the text as it stood — never a query for today's row of a deferred column."""
    for name, column, is_base in _translation_columns(type(instance)):
        instance.__dict__[column] = instance.__dict__.get(name) if is_base else None
    return instance
