"""The e-mails of the public pages: plain text and HTML, in the customer's language."""

from email.utils import formataddr, parseaddr

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.utils import translation

from consent.models import ComplianceProfile

TEMPLATE_DIR = "preference_center/email"


def sender_address(profile: ComplianceProfile) -> str:
    """DEFAULT_FROM_EMAIL, under the profile's sender name when it has one."""
    name, address = parseaddr(settings.DEFAULT_FROM_EMAIL)
    return formataddr((profile.sender_name or name, address))


def send(*, template: str, profile: ComplianceProfile, to: str, context: dict, language: str):
    """Render `<template>_subject.txt`, `<template>.txt` and `<template>.html`, and send them."""
    with translation.override(language):
        context = {"profile": profile, "sender": profile.sender_name or profile.name, **context}
        subject = render_to_string(f"{TEMPLATE_DIR}/{template}_subject.txt", context)
        text = render_to_string(f"{TEMPLATE_DIR}/{template}.txt", context)
        html = render_to_string(f"{TEMPLATE_DIR}/{template}.html", context)
    message = EmailMultiAlternatives(
        subject=" ".join(subject.split()),
        body=text,
        from_email=sender_address(profile),
        to=[to],
        headers={"Auto-Submitted": "auto-generated", "Content-Language": language},
    )
    message.attach_alternative(html, "text/html")
    message.send()
