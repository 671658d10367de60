"""ESP feedback (consent/services/esp_feedback.py, consent/api/esp_feedback.py): real-shaped
tracking posts of SendGrid, Amazon SES (an SNS notification) and Postmark, as anymail's own
tests and the providers' documentation show them, through anymail's views and signal."""

import base64
import json

import pytest

from consent.models import ComplianceProfile, ContactPointConsent, EspFeedbackEvent
from tests import factories

AUTH = "Basic " + base64.b64encode(b"esp-user:esp-password").decode()


@pytest.fixture
def profiles(db):
    """The default profile (Commercial restrictive, scope topic) with a second commercial
    purpose and a topic; and another profile with a commercial purpose."""
    default = ComplianceProfile.objects.default()
    commercial = default.purposes.get(kind="commercial")
    events = factories.topic(purpose_obj=commercial, name="Events")
    offers = factories.purpose(profile=default, name="Offers")
    other = factories.purpose(name="Partner offers")
    for purpose in (commercial, offers, other):
        factories.cp_consent(value="ann@example.org", purpose_obj=purpose, status="opted_in")
    return default, commercial, events, offers, other


def statuses(value="ann@example.org") -> dict:
    return {
        (r.purpose.name, r.topic.name if r.topic else None): (r.status, r.source, r.reason)
        for r in ContactPointConsent.objects.filter(value=value).select_related("purpose", "topic")
    }


def post(client, provider: str, body, **headers):
    return client.post(
        f"/esp/{provider}/tracking/",
        data=json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=headers.pop("auth", AUTH),
        **headers,
    )


# --- SendGrid: an array of events; custom args (metadata) merged into each -------------------


def sendgrid_event(event: str, **extra) -> dict:
    return {
        "email": "Ann@Example.org",
        "timestamp": 1513299569,
        "smtp-id": "<14c5d75ce93.dfd.64b469@ismtpd-555>",
        "event": event,
        "category": "cat facts",
        "sg_event_id": f"sg-{event}-1",
        "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0",
        **extra,
    }


def test_sendgrid_unsubscribe_opts_out_the_messages_topic_per_scope(client, profiles):
    _, commercial, events, _, _ = profiles
    body = [sendgrid_event("unsubscribe", consent_purpose=commercial.pk, consent_topic=events.pk)]
    assert post(client, "sendgrid", body).status_code == 200
    assert statuses()[("Commercial", "Events")] == ("opted_out", "esp_feedback", "sg-unsubscribe-1")
    assert statuses()[("Commercial", None)][0] == "opted_in"  # scope `topic`: only the topic


def test_sendgrid_spam_report_opts_out_every_commercial_purpose_of_every_profile(client, profiles):
    assert post(client, "sendgrid", [sendgrid_event("spamreport")]).status_code == 200
    now = statuses()
    for name in ("Commercial", "Offers", "Partner offers"):
        assert now[(name, None)] == ("opted_out", "esp_feedback", "sg-spamreport-1")
    record = ContactPointConsent.objects.get(value="ann@example.org", purpose__name="Offers")
    assert record.history.first().history_source == "esp_feedback"


def test_an_unsubscribe_without_the_messages_purpose_opts_out_every_commercial_purpose(
    client, profiles
):
    """Without metadata the message's purpose is unknown: the default profile's commercial
    purposes all, whatever the scope (another profile's are left alone)."""
    assert post(client, "sendgrid", [sendgrid_event("group_unsubscribe")]).status_code == 200
    now = statuses()
    assert now[("Commercial", None)][0] == now[("Offers", None)][0] == "opted_out"
    assert now[("Partner offers", None)][0] == "opted_in"


def test_the_same_event_twice_is_applied_once(client, profiles):
    body = [sendgrid_event("spamreport")]
    assert post(client, "sendgrid", body).status_code == 200
    history = ContactPointConsent.history.count()
    factories.cp_consent(  # the customer opts in again afterwards
        value="ann@example.org", purpose_obj=profiles[3], status="opted_in"
    )
    assert post(client, "sendgrid", body).status_code == 200  # the provider retries
    assert ContactPointConsent.history.count() == history + 1
    assert statuses()[("Offers", None)][0] == "opted_in"
    assert EspFeedbackEvent.objects.count() == 1


def test_other_event_types_and_bad_addresses_change_nothing(client, profiles):
    before = statuses()
    body = [sendgrid_event("open"), sendgrid_event("unsubscribe", email="not an address")]
    assert post(client, "sendgrid", body).status_code == 200
    assert statuses() == before
    assert not EspFeedbackEvent.objects.exists()


@pytest.mark.parametrize(
    "auth", ["", "Basic " + base64.b64encode(b"esp-user:wrong").decode(), "Bearer x"]
)
def test_bad_auth_is_refused_and_writes_nothing(client, profiles, auth):
    before = statuses()
    response = post(client, "sendgrid", [sendgrid_event("spamreport")], auth=auth)
    assert response.status_code in (400, 401, 403)
    assert statuses() == before
    assert not EspFeedbackEvent.objects.exists()


def test_without_a_configured_secret_every_post_is_refused(client, profiles, settings):
    settings.ANYMAIL = {**settings.ANYMAIL, "WEBHOOK_SECRET": ""}
    before = statuses()
    assert post(client, "sendgrid", [sendgrid_event("spamreport")]).status_code == 403
    assert statuses() == before


# --- Amazon SES: an SNS notification whose Message is the SES event (JSON in a string) -------


def sns_notification(message: dict, message_id: str = "8f6dd4ce-6e5b-5e3c-9d3d-example") -> dict:
    return {
        "Type": "Notification",
        "MessageId": message_id,
        "TopicArn": "arn:aws:sns:us-east-1:111111111111:SES_Tracking",
        "Message": json.dumps(message),
        "Timestamp": "2018-03-26T17:58:59.675Z",
        "SignatureVersion": "1",
        "Signature": "EXAMPLE-SIGNATURE==",
        "SigningCertURL": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-12345.pem",
        "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&Subscri...",
    }


SES_COMPLAINT = {
    "notificationType": "Complaint",
    "complaint": {
        "feedbackId": "0100016262d2f3b8-example-000000",
        "complaintSubType": None,
        "complainedRecipients": [{"emailAddress": "ann@example.org"}],
        "timestamp": "2018-03-26T17:58:59.000Z",
        "userAgent": "Yahoo!-Mail-Feedback/2.0",
        "complaintFeedbackType": "abuse",
        "arrivalDate": "2018-03-26T17:58:58.000Z",
    },
    "mail": {
        "timestamp": "2018-03-26T17:58:58.000Z",
        "source": "sender@example.com",
        "sourceArn": "arn:aws:ses:us-east-1:111111111111:identity/example.com",
        "sourceIp": "192.0.2.1",
        "sendingAccountId": "111111111111",
        "messageId": "0100016262d2eb9d-example-000000",
        "destination": ["ann@example.org", "bob@example.org"],
        "headersTruncated": False,
        "headers": [{"name": "X-Metadata", "value": '{"campaign": "spring"}'}],
    },
}


def test_amazon_ses_complaint_through_sns_opts_out_every_commercial_purpose(client, profiles):
    body = sns_notification(SES_COMPLAINT)
    sns = {
        "HTTP_X_AMZ_SNS_MESSAGE_TYPE": "Notification",
        "HTTP_X_AMZ_SNS_MESSAGE_ID": body["MessageId"],
    }
    assert post(client, "amazon_ses", body, **sns).status_code == 200
    assert statuses()[("Offers", None)] == ("opted_out", "esp_feedback", body["MessageId"])
    assert statuses("bob@example.org") == {}  # only the complaining recipient
    # SNS redelivers the same notification: applied once.
    assert post(client, "amazon_ses", body, **sns).status_code == 200
    assert EspFeedbackEvent.objects.count() == 1


def test_amazon_ses_without_basic_auth_gets_the_401_sns_needs(client, profiles):
    body = sns_notification(SES_COMPLAINT)
    response = client.post(
        "/esp/amazon_ses/tracking/",
        data=json.dumps(body),
        content_type="application/json",
        HTTP_X_AMZ_SNS_MESSAGE_TYPE="Notification",
        HTTP_X_AMZ_SNS_MESSAGE_ID=body["MessageId"],
    )
    assert response.status_code == 401
    assert statuses()[("Offers", None)][0] == "opted_in"


# --- Postmark: one event per post ------------------------------------------------------------


def test_postmark_subscription_change_unsubscribes_per_scope(client, profiles):
    default, commercial, _, _, _ = profiles
    default.unsubscribe_scope = "purpose"
    default.save()
    body = {
        "RecordType": "SubscriptionChange",
        "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
        "ServerID": 123456,
        "MessageStream": "outbound",
        "ChangedAt": "2020-02-01T10:53:34.416071Z",
        "Recipient": "ann@example.org",
        "Origin": "Recipient",
        "SuppressSending": True,
        "SuppressionReason": "ManualSuppression",
        "Tag": "welcome-email",
        "Metadata": {"consent_purpose": str(commercial.pk)},
    }
    assert post(client, "postmark", body).status_code == 200
    now = statuses()
    assert now[("Commercial", None)][:2] == ("opted_out", "esp_feedback")
    assert now[("Commercial", None)][2].startswith("883953f4-6105-42a2-a16a-77a8eac79483/")
    assert now[("Offers", None)][0] == "opted_in"  # scope `purpose`: only the message's
    assert post(client, "postmark", body).status_code == 200
    assert EspFeedbackEvent.objects.count() == 1


def test_postmark_spam_complaint(client, profiles):
    body = {
        "RecordType": "SpamComplaint",
        "ID": 42,
        "Type": "SpamComplaint",
        "TypeCode": 512,
        "Name": "Spam complaint",
        "Tag": "Test",
        "MessageID": "00000000-0000-0000-0000-000000000000",
        "ServerID": 1234,
        "MessageStream": "outbound",
        "Description": "The subscriber explicitly marked this message as spam.",
        "Details": "Test spam complaint details",
        "Email": "ann@example.org",
        "From": "sender@example.com",
        "BouncedAt": "2019-11-05T16:33:54.9070259Z",
        "DumpAvailable": True,
        "Inactive": True,
        "CanActivate": False,
        "Subject": "Test subject",
        "Metadata": {},
    }
    assert post(client, "postmark", body).status_code == 200
    assert statuses()[("Partner offers", None)] == ("opted_out", "esp_feedback", "42")


def test_every_wired_provider_answers_at_its_url(client, db):
    for provider in ("sendgrid", "amazon_ses", "postmark", "mailgun", "brevo"):
        response = client.post(
            f"/esp/{provider}/tracking/", data="{}", content_type="application/json"
        )
        assert response.status_code in (400, 401, 403), provider  # there, and refusing
