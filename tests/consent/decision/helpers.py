"""Helpers of the decision tests: a subject holding the address, a contact-point record, a
question."""

from consent.models import ContactPointConsent, Purpose
from consent.services.subjects import subject_update
from subjects.services import SYSTEM
from tests import factories

EMAIL = "ada@example.org"


PHONE = "+31612345678"


OPTED_IN = ContactPointConsent.Status.OPTED_IN


OPTED_OUT = ContactPointConsent.Status.OPTED_OUT


NOT_SET = ContactPointConsent.Status.NOT_SET


Kind = Purpose.Kind


Model = Purpose.ConsentModel


def person(*, email=EMAIL, phone=PHONE, level=5, model=factories.contact, **data):
    """A subject holding the address, at `level`, with `data` (preferences, restricted) set."""
    subject = model(email=email, phone=phone)
    if level:
        factories.consent(subject=subject, policy_obj=factories.policy(consent_level=level))
    if data:
        subject.refresh_from_db()
        subject = subject_update(subject=subject, data=data, user=SYSTEM)
    return subject


def opt(purpose, status, *, topic=None, channel="email", value=EMAIL, **kwargs):
    return factories.cp_consent(
        channel=channel, value=value, purpose_obj=purpose, topic=topic, status=status, **kwargs
    )


def opted_in_everywhere(w, channel="email", value=EMAIL):
    for purpose in (w.marketing, w.service_news, w.notices, w.tracking):
        opt(purpose, OPTED_IN, channel=channel, value=value)
    opt(w.marketing, OPTED_IN, topic=w.events, channel=channel, value=value)
    opt(w.service_news, OPTED_IN, topic=w.tips, channel=channel, value=value)


def check(purpose, *, topic=None, channel="email", value=EMAIL, **extra):
    return {"channel": channel, "value": value, "purpose": purpose, "topic": topic, **extra}
