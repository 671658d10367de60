"""Global Privacy Control (DESIGN §3.6): `Sec-GPC: 1` on the public pages opts out of tracking,
every time it is applied leaves a history row with source `gpc`, and /.well-known/gpc.json."""

import re
from datetime import date

import pytest
from django.core import mail
from django.urls import reverse

from common.audit import Source
from consent.decision.single import decide
from consent.models import (
    ComplianceProfile,
    ContactPointConsent,
    Purpose,
    WebhookDelivery,
    WebhookEndpoint,
)
from consent.services.webhooks import webhook_endpoint_save
from tests import factories
from tests.consent.ledger.helpers import entry_for, unsealed_rows
from tests.preference_center.conftest import (
    BROWSER_UA,
    manage_path,
    row_counts,
    status_of,
    unsubscribe_path,
)

pytestmark = pytest.mark.django_db
ADDRESS = "jane@example.org"
GPC = {"HTTP_SEC_GPC": "1"}
OPTED_IN, OPTED_OUT = ContactPointConsent.Status.OPTED_IN, ContactPointConsent.Status.OPTED_OUT
History = ContactPointConsent.history.model


@pytest.fixture
def tracking(profile):
    return factories.purpose(
        profile=profile,
        name="Tracking",
        kind=Purpose.Kind.TRACKING,
        description="Whether we may see that you open our e-mails.",
        name_nl="Meten en volgen",
    )


def gpc_rows(purpose) -> list:
    return list(
        History.objects.filter(purpose_id=purpose.pk, history_source=Source.GPC).order_by(
            "history_id"
        )
    )


def save_preferences(client, profile, catalog, **headers):
    return client.post(
        manage_path(profile, ADDRESS),
        {"purpose": [catalog["newsletter"].pk], "action": "save"},
        REMOTE_ADDR="203.0.113.9",
        HTTP_USER_AGENT=BROWSER_UA,
        **headers,
    )


# ---------------------------------------------------------------------------------------------
# The manage page


def test_the_manage_page_shows_tracking_off_and_says_the_signal_was_honoured(
    client, profile, catalog, tracking
):
    factories.cp_consent(value=ADDRESS, purpose_obj=tracking, status=OPTED_IN)
    before = row_counts()
    html = client.get(manage_path(profile, ADDRESS), **GPC).content.decode()
    assert "Your browser sent a Global Privacy Control signal and we have honoured it" in html
    tracking_box = re.search(
        rf'<input type="checkbox" name="purpose" value="{tracking.pk}"[^>]*>', html
    )
    assert tracking_box and "disabled" in tracking_box.group(0)
    assert " checked" not in tracking_box.group(0)  # off, although its record says opted in
    assert f'id="tracking-{tracking.pk}"' in tracking_box.group(0)
    assert "off: Global Privacy Control" in html and tracking.description in html
    assert row_counts() == before  # showing it writes nothing


@pytest.mark.parametrize("headers", [{}, {"HTTP_SEC_GPC": "0"}, {"HTTP_SEC_GPC": "yes"}])
def test_without_the_signal_the_page_has_no_tracking_choice(
    client, profile, catalog, tracking, headers
):
    html = client.get(manage_path(profile, ADDRESS), **headers).content.decode()
    assert "Global Privacy Control" not in html
    assert f'id="tracking-{tracking.pk}"' not in html


def test_saving_with_the_signal_records_a_tracking_opt_out_with_source_gpc(
    client, profile, catalog, tracking
):
    factories.cp_consent(value=ADDRESS, purpose_obj=tracking, status=OPTED_IN)
    response = save_preferences(client, profile, catalog, **GPC)
    assert response.status_code == 302
    record = ContactPointConsent.objects.get(value=ADDRESS, purpose=tracking, topic=None)
    assert (record.status, record.source) == (OPTED_OUT, Source.GPC)
    assert record.reason == "Global Privacy Control (Sec-GPC: 1)"
    assert "manage page" in record.reason_description
    assert (record.ip_address, record.user_agent, record.notice_version) == (
        "203.0.113.9",
        BROWSER_UA,
        "n3",
    )
    # The history row is the record of the signal being applied; the previous opt-in stays.
    assert [row.status for row in record.history.order_by("history_id")] == [OPTED_IN, OPTED_OUT]
    assert [row.status for row in gpc_rows(tracking)] == [OPTED_OUT]
    # The customer's own choice is recorded beside it, with its own source.
    newsletter = ContactPointConsent.objects.get(value=ADDRESS, purpose=catalog["newsletter"])
    assert (newsletter.status, newsletter.source) == (OPTED_IN, Source.PREFERENCE_CENTER)
    # And the decision obeys it.
    assert decide(channel="email", value=ADDRESS, purpose=tracking).reason == "purpose_opted_out"
    assert not decide(channel="email", value=ADDRESS, purpose=catalog["offers"]).tracking_allowed


def test_the_gpc_opt_out_is_sealed_in_the_ledger_and_sent_to_webhooks(
    client, profile, catalog, tracking
):
    """A GPC opt-out is a consent write like any other: its history row is sealed into the
    ledger and `contact_point_consent.changed` goes out, naming the purpose in English even
    though the visitor reads the page in Dutch."""
    webhook_endpoint_save(
        endpoint=WebhookEndpoint(),
        data={"url": "http://127.0.0.1:9/hooks", "events": ["contact_point_consent.changed"]},
    )
    factories.cp_consent(value=ADDRESS, purpose_obj=tracking, status=OPTED_IN)
    WebhookDelivery.objects.all().delete()
    response = client.post(
        manage_path(profile, ADDRESS) + "?lang=nl",
        {"purpose": [catalog["newsletter"].pk], "action": "save"},
        HTTP_ACCEPT_LANGUAGE="nl",
        **GPC,
    )
    assert response.status_code == 302
    (row,) = gpc_rows(tracking)
    assert entry_for(row).history_id == row.history_id
    assert unsealed_rows() == 0
    sent = {
        d.data["purpose"]: d.data
        for d in WebhookDelivery.objects.filter(event_type="contact_point_consent.changed")
    }
    assert sent[tracking.pk]["status"] == OPTED_OUT
    assert sent[tracking.pk]["source"] == Source.GPC
    assert sent[tracking.pk]["purpose_name"] == "Tracking"  # not "Meten en volgen"


def test_saving_without_the_signal_leaves_tracking_alone(client, profile, catalog, tracking):
    factories.cp_consent(value=ADDRESS, purpose_obj=tracking, status=OPTED_IN)
    save_preferences(client, profile, catalog)
    assert status_of(ADDRESS, tracking) == OPTED_IN
    assert gpc_rows(tracking) == []


def test_each_time_the_signal_is_applied_is_recorded_once(client, profile, catalog, tracking):
    save_preferences(client, profile, catalog, **GPC)
    save_preferences(client, profile, catalog, **GPC)  # already off: nothing to apply
    assert len(gpc_rows(tracking)) == 1
    # Staff record a verbal opt-in; the next visit with the signal applies it again.
    factories.cp_consent(value=ADDRESS, purpose_obj=tracking, status=OPTED_IN, source="verbal")
    save_preferences(client, profile, catalog, **GPC)
    assert [row.status for row in gpc_rows(tracking)] == [OPTED_OUT, OPTED_OUT]
    assert status_of(ADDRESS, tracking) == OPTED_OUT


def test_a_disabled_tracking_purpose_is_neither_shown_nor_written(client, profile, catalog):
    disabled = factories.purpose(
        profile=profile,
        name="Tracking",
        kind=Purpose.Kind.TRACKING,
        consent_model=Purpose.ConsentModel.DISABLED,
    )
    html = client.get(manage_path(profile, ADDRESS), **GPC).content.decode()
    assert f'id="tracking-{disabled.pk}"' not in html
    save_preferences(client, profile, catalog, **GPC)
    assert status_of(ADDRESS, disabled) is None


def test_the_honoured_message_is_translated(client, profile, catalog, tracking):
    html = client.get(manage_path(profile, ADDRESS) + "?lang=nl", **GPC).content.decode()
    assert "Global Privacy Control-signaal gestuurd en dat respecteren we" in html
    assert "Meten en volgen" in html and "uit: Global Privacy Control" in html


# ---------------------------------------------------------------------------------------------
# Sign-up, confirmation, unsubscribe, link request


def sign_up(client, profile, catalog, **headers):
    return client.post(
        reverse("preference_center:subscribe", args=[profile.slug]),
        {"email": ADDRESS, "topic": [catalog["events"].pk]},
        **headers,
    )


def test_a_sign_up_from_a_gpc_browser_records_no_tracking_opt_in(
    client, profile, catalog, tracking
):
    profile.double_opt_in = ComplianceProfile.DoubleOptIn.OFF
    profile.save()
    assert sign_up(client, profile, catalog, **GPC).status_code == 200
    tracking_records = ContactPointConsent.objects.filter(value=ADDRESS, purpose=tracking)
    assert [(r.status, r.source) for r in tracking_records] == [(OPTED_OUT, Source.GPC)]
    assert "sign-up page" in tracking_records[0].reason_description
    assert status_of(ADDRESS, catalog["newsletter"], catalog["events"]) == OPTED_IN


def test_with_double_opt_in_the_signal_applies_at_the_confirmation(
    client, profile, catalog, tracking, django_capture_on_commit_callbacks
):
    profile.double_opt_in = ComplianceProfile.DoubleOptIn.ALWAYS
    profile.save()
    with django_capture_on_commit_callbacks(execute=True):
        sign_up(client, profile, catalog, **GPC)
    assert row_counts() == (0, 0)  # nothing before the confirmation, the signal included
    path = re.search(r"https?://[^/\s]+(/subscribe/confirm/[^/\s]+/)", mail.outbox[0].body)
    assert client.post(path.group(1), **GPC).status_code == 200
    record = ContactPointConsent.objects.get(value=ADDRESS, purpose=tracking)
    assert (record.status, record.source) == (OPTED_OUT, Source.GPC)
    assert status_of(ADDRESS, catalog["newsletter"], catalog["events"]) == OPTED_IN


def test_the_unsubscribe_page_applies_the_signal_too(client, profile, catalog, tracking):
    factories.cp_consent(value=ADDRESS, purpose_obj=tracking, status=OPTED_IN)
    client.post(unsubscribe_path(catalog["newsletter"], ADDRESS), **GPC)
    assert (status_of(ADDRESS, catalog["newsletter"]), status_of(ADDRESS, tracking)) == (
        OPTED_OUT,
        OPTED_OUT,
    )
    assert len(gpc_rows(tracking)) == 1


def test_the_link_request_form_writes_nothing_for_a_gpc_browser(client, profile, tracking):
    factories.cp_consent(value=ADDRESS, purpose_obj=tracking, status=OPTED_IN)
    before = row_counts()
    client.post("/preferences/?profile=acme", {"email": ADDRESS}, **GPC)
    assert row_counts() == before  # anyone can type any address there


# ---------------------------------------------------------------------------------------------
# /.well-known/gpc.json


def test_gpc_json_says_the_site_honours_the_signal(client):
    response = client.get("/.well-known/gpc.json")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["gpc"] is True
    assert date.fromisoformat(body["lastUpdate"]) <= date.today()
    assert "public" in response["Cache-Control"] and "max-age=86400" in response["Cache-Control"]


def test_gpc_json_answers_only_reads(client):
    assert client.post("/.well-known/gpc.json").status_code == 405
    assert client.head("/.well-known/gpc.json").status_code == 200


def test_a_post_naming_the_tracking_purpose_never_opts_it_in(client, profile, catalog, tracking):
    client.post(manage_path(profile, ADDRESS), {"purpose": [tracking.pk], "action": "save"}, **GPC)
    assert status_of(ADDRESS, tracking) == OPTED_OUT
    client.post(manage_path(profile, ADDRESS), {"purpose": [tracking.pk], "action": "save"})
    assert status_of(ADDRESS, tracking) == OPTED_OUT
