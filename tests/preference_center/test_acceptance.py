"""The acceptance story of issue 6 (DESIGN §3.6), end to end through the public pages.

A subscriber signs up in Dutch, confirms from the e-mail, later unsubscribes with a cookie-less
one-click POST from a mail provider; the contact point's history shows the three steps with IP
address, user agent and source — in the admin too.
"""

import re

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from consent.models import ComplianceProfile, ContactPointConsent
from preference_center.links import unsubscribe_headers
from subjects.models import Lead

pytestmark = pytest.mark.django_db
ADDRESS = "sanne@voorbeeld.nl"
SIGN_UP = {"REMOTE_ADDR": "198.51.100.23", "HTTP_USER_AGENT": "Firefox/128 (sign-up)"}
CONFIRM = {"REMOTE_ADDR": "203.0.113.45", "HTTP_USER_AGENT": "Safari/17 (confirmation)"}
PROVIDER = {"REMOTE_ADDR": "192.0.2.99", "HTTP_USER_AGENT": "MailProvider-Unsubscriber/1.0"}


def test_sign_up_in_dutch_confirm_then_one_click_unsubscribe(
    profile, catalog, dpo, django_capture_on_commit_callbacks
):
    profile.double_opt_in = ComplianceProfile.DoubleOptIn.ALWAYS
    profile.unsubscribe_scope = ComplianceProfile.UnsubscribeScope.PURPOSE
    profile.save()
    newsletter = catalog["newsletter"]
    subscriber = Client(HTTP_ACCEPT_LANGUAGE="nl-NL,nl;q=0.9,en;q=0.5")

    # 1. Sign-up, in Dutch: nothing is written, a Dutch confirmation e-mail goes out.
    form = subscriber.get(reverse("preference_center:subscribe", args=[profile.slug]))
    assert "Wat wil je ontvangen?" in form.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        done = subscriber.post(
            reverse("preference_center:subscribe", args=[profile.slug]),
            {"email": "Sanne@Voorbeeld.nl", "topic": [catalog["events"].pk]},
            **SIGN_UP,
        )
    assert "open de e-mail die we je zojuist hebben gestuurd" in done.content.decode()
    assert not ContactPointConsent.objects.filter(value=ADDRESS).exists()
    (confirmation,) = mail.outbox
    assert confirmation.to == [ADDRESS]
    assert confirmation.subject == "Bevestig je inschrijving"

    # 2. Confirmation from the e-mail's link (opens in Dutch; only the POST writes).
    path = re.search(r"https?://[^/\s]+(/subscribe/confirm/\S+)", confirmation.body).group(1)
    page = subscriber.get(path, **CONFIRM)
    assert "Inschrijving bevestigen" in page.content.decode()
    assert not ContactPointConsent.objects.filter(value=ADDRESS).exists()
    confirmed = subscriber.post(path, **CONFIRM)
    assert "Je inschrijving is bevestigd." in confirmed.content.decode()
    lead = Lead.objects.get(email=ADDRESS)
    assert lead.source == "double_opt_in" and lead.consent_level == 4

    # 3. A newsletter goes out with the RFC 8058 headers; the provider one-clicks, no cookies.
    headers = unsubscribe_headers(channel="email", value=ADDRESS, purpose=newsletter)
    url = re.match(r"<https?://[^/]+(/unsubscribe/[^>]+)>", headers["List-Unsubscribe"]).group(1)
    provider = Client(enforce_csrf_checks=True)
    response = provider.post(
        url,
        headers["List-Unsubscribe-Post"],
        content_type="application/x-www-form-urlencoded",
        **PROVIDER,
    )
    assert response.status_code == 200
    assert not provider.cookies

    # The history of the purpose record: confirmation (with the sign-up's evidence), unsubscribe.
    record = ContactPointConsent.objects.get(value=ADDRESS, purpose=newsletter, topic=None)
    assert record.status == "opted_out"
    rows = list(record.history.order_by("history_date", "history_id"))
    assert [(r.status, r.history_source) for r in rows] == [
        ("opted_in", "double_opt_in"),
        ("opted_out", "one_click_unsubscribe"),
    ]
    opt_in, opt_out = rows
    assert (opt_in.ip_address, opt_in.user_agent) == ("203.0.113.45", "Safari/17 (confirmation)")
    assert "198.51.100.23" in opt_in.reason_description
    assert "Firefox/128 (sign-up)" in opt_in.reason_description
    assert (opt_out.ip_address, opt_out.user_agent) == ("192.0.2.99", PROVIDER["HTTP_USER_AGENT"])

    # The DPO sees it in the admin: the record's history, and the lead's GDPR timeline in full.
    admin = Client()
    admin.force_login(dpo)
    history = admin.get(
        reverse("admin:consent_contactpointconsent_history", args=[record.pk])
    ).content.decode()
    for evidence in ("double_opt_in", "one_click_unsubscribe", "203.0.113.45", "192.0.2.99"):
        assert evidence in history, evidence
    timeline = admin.get(reverse("admin:subjects_lead_timeline", args=[lead.pk])).content.decode()
    for evidence in (
        "double_opt_in",
        "one_click_unsubscribe",
        "198.51.100.23",
        "Firefox/128 (sign-up)",
        "203.0.113.45",
        "Safari/17 (confirmation)",
        "192.0.2.99",
        "MailProvider-Unsubscriber/1.0",
    ):
        assert evidence in timeline, evidence
