"""Issue 15 #4: the manage link of an unsubscribe page can switch messages off, never on.

An unsubscribe link proves nothing about who holds the address: a sending system mints one
for any address (GET /api/v1/unsubscribe-headers/). So the manage page it links to writes
opt-outs only; asked for an opt-in it mails a fresh manage link to the address.
"""

import re

import pytest
from django.core import mail
from django.urls import reverse

from consent.models import ContactPointConsent
from preference_center.tokens import AddressLink
from tests import factories
from tests.preference_center.conftest import status_of, unsubscribe_path

pytestmark = pytest.mark.django_db
ADDRESS = "victim@example.org"


@pytest.fixture
def manage_from_unsubscribe(client, catalog):
    """The manage page linked from the unsubscribe page of a newsletter message."""
    page = client.get(unsubscribe_path(catalog["newsletter"], ADDRESS))
    return re.search(r'href="(/preferences/[^/"]+/)"', page.content.decode()).group(1)


def test_the_unsubscribe_page_links_to_an_opt_out_only_manage_page(manage_from_unsubscribe):
    token = manage_from_unsubscribe.split("/")[2]
    assert AddressLink.loads(token).opt_out_only is True


def test_it_cannot_opt_in(
    client, manage_from_unsubscribe, catalog, django_capture_on_commit_callbacks
):
    newsletter, events = catalog["newsletter"], catalog["events"]
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            manage_from_unsubscribe,
            {"purpose": [newsletter.pk], "topic": [events.pk], "action": "save"},
        )
    assert response.status_code == 302
    assert status_of(ADDRESS, newsletter) is None
    assert status_of(ADDRESS, newsletter, events) is None
    assert not ContactPointConsent.objects.filter(status="opted_in").exists()
    page = client.get(response["Location"]).content.decode()
    assert "please use the link we have just e-mailed" in page


def test_asking_for_an_opt_in_mails_a_fresh_full_manage_link_to_the_address(
    client, manage_from_unsubscribe, catalog, django_capture_on_commit_callbacks
):
    newsletter = catalog["newsletter"]
    with django_capture_on_commit_callbacks(execute=True):
        client.post(manage_from_unsubscribe, {"purpose": [newsletter.pk], "action": "save"})
    (message,) = mail.outbox
    assert message.to == [ADDRESS]
    fresh = re.search(r"https?://[^/\s]+(/preferences/[^/\s]+/)", message.body).group(1)
    assert AddressLink.loads(fresh.split("/")[2]).opt_out_only is False
    # Whoever holds the address can opt in with it.
    client.post(fresh, {"purpose": [newsletter.pk], "action": "save"})
    assert status_of(ADDRESS, newsletter) == "opted_in"


def test_opt_outs_are_written(client, manage_from_unsubscribe, catalog):
    offers = catalog["offers"]
    factories.cp_consent(value=ADDRESS, purpose_obj=offers, status="opted_in")
    factories.cp_consent(value=ADDRESS, purpose_obj=catalog["newsletter"], status="opted_in")
    response = client.post(
        manage_from_unsubscribe, {"purpose": [catalog["newsletter"].pk], "action": "save"}
    )
    assert response.status_code == 302
    assert status_of(ADDRESS, offers) == "opted_out"
    assert status_of(ADDRESS, catalog["newsletter"]) == "opted_in"  # unchanged, not re-written
    assert mail.outbox == []  # nothing to confirm: no opt-in was asked for
    client.post(manage_from_unsubscribe, {"action": "unsubscribe_all"})
    assert status_of(ADDRESS, catalog["newsletter"]) == "opted_out"


def test_another_channel_cannot_opt_in_and_is_told_so(client, catalog):
    page = client.get(unsubscribe_path(catalog["newsletter"], "+31610000001", channel="sms"))
    manage = re.search(r'href="(/preferences/[^/"]+/)"', page.content.decode()).group(1)
    response = client.post(manage, {"purpose": [catalog["newsletter"].pk], "action": "save"})
    assert status_of("+31610000001", catalog["newsletter"], channel="sms") is None
    assert (
        "cannot be switched on from this link" in client.get(response["Location"]).content.decode()
    )
    assert mail.outbox == []


@pytest.mark.parametrize(
    ("language", "notice", "mailed"),
    [
        ("nl", "Met deze link kun je berichten uitzetten", "die we zojuist naar dit adres"),
        ("fr", "Ce lien vous permet de désactiver", "que nous venons d’envoyer"),
        ("de", "Über diesen Link können Sie Nachrichten ausschalten", "soeben an diese Adresse"),
    ],
)
def test_the_opt_out_only_messages_speak_the_customers_language(
    client, manage_from_unsubscribe, language, notice, mailed
):
    page = client.get(f"{manage_from_unsubscribe}?lang={language}").content.decode()
    assert notice in page
    after = client.get(f"{manage_from_unsubscribe}?lang={language}&saved=1&opt_in=mailed")
    assert mailed in after.content.decode()


def test_an_opt_out_only_link_opens_no_consent_receipt(client, manage_from_unsubscribe, catalog):
    """Receipts carry the address's consent history: only a link mailed to the address opens
    them, never the one any sending system can mint (the unsubscribe page's)."""
    factories.cp_consent(value=ADDRESS, purpose_obj=catalog["newsletter"], status="opted_in")
    token = manage_from_unsubscribe.split("/")[2]
    refused = client.get(reverse("preference_center:receipt", args=[token]))
    assert refused.status_code == 404
    assert "application/json" not in refused["Content-Type"]
    saved = client.get(f"{manage_from_unsubscribe}?saved=1").content.decode()
    assert "receipt-link" not in saved
    full = AddressLink(catalog["newsletter"].profile_id, "email", ADDRESS).dumps()
    receipts = client.get(reverse("preference_center:receipt", args=[full]))
    assert receipts.status_code == 200 and len(receipts.json()) == 1
