"""Public pages and notices (DESIGN §3.9): the current notice in the visitor's language, the
re-confirmation of outdated opt-ins by saving, and the customer's receipt."""

import json
import re

import jsonschema
import pytest
from django.urls import reverse
from django.utils import timezone
from pyld import jsonld

from common.audit import Source
from consent.models import ContactPointConsent
from consent.reports.receipts import kantara_schema
from consent.services.notices import notice_create, notice_publish
from preference_center.tokens import AddressLink, SignUpRequest
from tests import factories
from tests.preference_center.conftest import manage_path

pytestmark = pytest.mark.django_db
ADDRESS = "ada@example.org"
OPTED_IN = ContactPointConsent.Status.OPTED_IN


def publish(profile, version, *, language="en", material=True):
    notice = notice_create(
        data={
            "profile": profile,
            "version": version,
            "language": language,
            "title": "Notice",
            "url": f"https://acme.example/{language}/privacy-{version}",
            "text": version,
            "material": material,
        },
        user=None,
        source=Source.INTERNAL,
    )
    notice_publish(notice, user=None, source=Source.INTERNAL)
    profile.refresh_from_db()


def receipt_path(profile, value=ADDRESS):
    return reverse(
        "preference_center:receipt", args=[AddressLink(profile.pk, "email", value).dumps()]
    )


def receipt_link(page: str) -> str:
    """The page's receipt link (tokens may differ on every dump: follow it, never compare)."""
    return re.search(r'id="receipt-link" href="(/preferences/[^"]+/receipt/)"', page).group(1)


def test_the_footer_links_the_current_notice_in_the_visitors_language(client, profile, catalog):
    publish(profile, "n4")
    publish(profile, "n4", language="nl")
    dutch = client.get(manage_path(profile, ADDRESS) + "?lang=nl").content.decode()
    assert 'href="https://acme.example/nl/privacy-n4"' in dutch
    german = client.get(manage_path(profile, ADDRESS) + "?lang=de").content.decode()
    assert 'href="https://acme.example/en/privacy-n4"' in german  # no German text: English


def test_saving_an_outdated_opt_in_again_re_confirms_it_under_the_new_notice(
    client, profile, catalog
):
    newsletter, events = catalog["newsletter"], catalog["events"]
    factories.cp_consent(value=ADDRESS, purpose_obj=newsletter, status=OPTED_IN)
    factories.cp_consent(value=ADDRESS, purpose_obj=newsletter, topic=events, status=OPTED_IN)
    publish(profile, "n4")
    assert ContactPointConsent.objects.outdated(profile).count() == 2
    # The customer saves the page unchanged (the re-consent mail's link).
    response = client.post(
        manage_path(profile, ADDRESS),
        {"purpose": [newsletter.pk, catalog["offers"].pk], "topic": [events.pk]},
    )
    assert response.status_code == 302
    assert not ContactPointConsent.objects.outdated(profile).exists()
    record = ContactPointConsent.objects.get(value=ADDRESS, purpose=newsletter, topic=None)
    assert (record.notice_version, record.source) == ("n4", "preference_center")
    # Saved again now, nothing is outdated: nothing is written.
    count = record.history.count()
    client.post(
        manage_path(profile, ADDRESS),
        {"purpose": [newsletter.pk, catalog["offers"].pk], "topic": [events.pk]},
    )
    assert record.history.count() == count


def test_the_saved_page_offers_the_receipt(client, profile, catalog):
    factories.cp_consent(value=ADDRESS, purpose_obj=catalog["newsletter"], status=OPTED_IN)
    page = client.get(manage_path(profile, ADDRESS) + "?saved=1").content.decode()
    receipts = client.get(receipt_link(page)).json()
    assert [r["services"][0]["purposes"][0]["purpose"] for r in receipts] == ["Newsletter"]
    assert 'id="receipt-link"' not in client.get(manage_path(profile, ADDRESS)).content.decode()


def test_the_receipts_of_an_address_in_both_formats(client, profile, catalog):
    factories.cp_consent(value=ADDRESS, purpose_obj=catalog["newsletter"], status=OPTED_IN)
    factories.cp_consent(
        value="other@example.org", purpose_obj=catalog["newsletter"], status=OPTED_IN
    )
    response = client.get(receipt_path(profile))
    assert response.status_code == 200
    assert response["Referrer-Policy"] == "no-referrer"
    receipts = json.loads(response.content)
    assert len(receipts) == 1
    jsonschema.validate(receipts[0], kantara_schema())
    iso = json.loads(client.get(receipt_path(profile) + "?format=iso27560").content)

    def refuse(url, options=None):
        raise jsonld.JsonLdError("offline", "loading document failed")

    assert jsonld.expand(iso, {"documentLoader": refuse})[0]["@type"] == [
        "https://w3id.org/dpv#ConsentRecord"
    ]
    assert ADDRESS not in response.content.decode()


def test_a_bad_token_has_no_receipt(client):
    assert client.get("/preferences/nonsense/receipt/").status_code == 404


def test_the_confirmed_page_offers_the_receipt(client, profile, catalog):
    request = SignUpRequest(
        profile.pk, "email", ADDRESS, (), (catalog["events"].pk,), timezone.now(), None, ""
    )
    page = client.post(reverse("preference_center:confirm", args=[request.dumps()]))
    receipts = client.get(receipt_link(page.content.decode())).json()
    assert {r["collectionMethod"] for r in receipts} == {"double_opt_in"}
    assert len(receipts) == 2  # the purpose and the topic
