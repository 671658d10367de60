"""GET|POST /subscribe/<slug>/ and GET|POST /subscribe/confirm/<token>/ — sign-up, double opt-in."""

import re

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from common.audit import Source
from consent.models import ComplianceProfile, ContactPointConsent, DataConsent
from consent.services.contact_points import suppression_add
from preference_center.tokens import SignUpRequest
from subjects.models import Lead
from tests import factories
from tests.preference_center.conftest import BROWSER_UA, row_counts, status_of

pytestmark = pytest.mark.django_db
ADDRESS = "new.reader@example.org"
OPTED_IN = ContactPointConsent.Status.OPTED_IN
DoubleOptIn = ComplianceProfile.DoubleOptIn


@pytest.fixture
def sign_up(client, profile, django_capture_on_commit_callbacks):
    """Post the sign-up form (mails sent: the on-commit dispatch runs)."""

    def post(*, email=ADDRESS, topics=(), purposes=(), client=client, **extra):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(
                reverse("preference_center:subscribe", args=[profile.slug]),
                {
                    "email": email,
                    "topic": [t.pk for t in topics],
                    "purpose": [p.pk for p in purposes],
                },
                **extra,
            )

    return post


def set_mode(profile, mode):
    profile.double_opt_in = mode
    profile.save()


def confirmation_path(message) -> str:
    return re.search(r"https?://[^/\s]+(/subscribe/confirm/[^/\s]+/)", message.body).group(1)


def test_the_form_shows_topics_grouped_by_purpose(client, profile, catalog):
    html = client.get(reverse("preference_center:subscribe", args=["acme"])).content.decode()
    assert "<legend>Newsletter</legend>" in html
    assert f'name="topic" value="{catalog["events"].pk}"' in html
    assert f'name="purpose" value="{catalog["offers"].pk}"' in html  # a purpose without topics
    assert "Invitations." in html  # the topic description
    assert "Service" not in html
    assert 'href="https://acme.example/privacy"' in html


def test_without_double_opt_in_the_sign_up_is_recorded_at_once(sign_up, profile, catalog):
    set_mode(profile, DoubleOptIn.OFF)
    response = sign_up(
        topics=[catalog["events"]], REMOTE_ADDR="198.51.100.4", HTTP_USER_AGENT=BROWSER_UA
    )
    assert response.status_code == 200
    assert "We have received your subscription." in response.content.decode()
    record = ContactPointConsent.objects.get(
        value=ADDRESS, purpose=catalog["newsletter"], topic=None
    )
    assert (record.status, record.source) == (OPTED_IN, Source.FORM)
    assert (record.ip_address, record.user_agent) == ("198.51.100.4", BROWSER_UA)
    assert status_of(ADDRESS, catalog["newsletter"], catalog["events"]) == OPTED_IN
    assert mail.outbox == []


def test_with_double_opt_in_nothing_is_written_until_the_confirmation(
    sign_up, client, profile, catalog
):
    set_mode(profile, DoubleOptIn.ALWAYS)
    before = row_counts()
    leads_before = Lead.objects.count()
    response = sign_up(
        topics=[catalog["events"]], REMOTE_ADDR="198.51.100.4", HTTP_USER_AGENT="SignUpUA/1.0"
    )
    assert response.status_code == 200
    assert "please open the email we have just sent you" in response.content.decode()
    assert row_counts() == before
    assert Lead.objects.count() == leads_before
    (message,) = mail.outbox
    assert message.to == [ADDRESS]
    assert message.subject == "Please confirm your subscription"
    assert "Acme Stores" in message.from_email
    assert message.alternatives[0].mimetype == "text/html"
    path = confirmation_path(message)
    assert path in message.alternatives[0].content

    # Mail scanners prefetch: GET and HEAD show the button and change nothing.
    page = client.get(path, HTTP_USER_AGENT="Scanner")
    assert page.status_code == 200
    assert "Confirm my subscription" in page.content.decode()
    assert "Events" in page.content.decode()
    assert client.head(path).status_code == 200
    assert row_counts() == before

    response = client.post(path, REMOTE_ADDR="203.0.113.77", HTTP_USER_AGENT="ConfirmUA/2.0")
    assert response.status_code == 200
    assert "Your subscription is confirmed." in response.content.decode()
    record = ContactPointConsent.objects.get(
        value=ADDRESS, purpose=catalog["newsletter"], topic=None
    )
    assert (record.status, record.source) == (OPTED_IN, Source.DOUBLE_OPT_IN)
    assert (record.ip_address, record.user_agent) == ("203.0.113.77", "ConfirmUA/2.0")
    assert "198.51.100.4" in record.reason_description
    assert "SignUpUA/1.0" in record.reason_description
    assert status_of(ADDRESS, catalog["newsletter"], catalog["events"]) == OPTED_IN


def test_a_confirmed_sign_up_for_a_new_address_creates_a_lead_with_a_data_consent(
    sign_up, client, profile, catalog
):
    set_mode(profile, DoubleOptIn.ALWAYS)
    sign_up(topics=[catalog["events"]])
    client.post(confirmation_path(mail.outbox[0]), REMOTE_ADDR="203.0.113.77")
    lead = Lead.objects.get(email=ADDRESS)
    assert (lead.status, lead.source) == ("open", Source.DOUBLE_OPT_IN)
    consent = DataConsent.objects.get(lead=lead)
    assert consent.policy == profile.data_policy and consent.is_active
    assert (consent.source, consent.ip_address) == (Source.DOUBLE_OPT_IN, "203.0.113.77")
    assert lead.consent_level == 4
    # Confirming again changes nothing about the subjects.
    client.post(confirmation_path(mail.outbox[0]), REMOTE_ADDR="203.0.113.77")
    assert Lead.objects.filter(email=ADDRESS).count() == 1
    assert DataConsent.objects.filter(lead=lead).count() == 1


def test_a_direct_sign_up_creates_a_lead_with_source_form(sign_up, profile, catalog):
    set_mode(profile, DoubleOptIn.OFF)
    sign_up(purposes=[catalog["offers"]])
    lead = Lead.objects.get(email=ADDRESS)
    assert lead.source == Source.FORM
    assert lead.consent_level == 4


def test_new_only_asks_new_addresses_to_confirm(sign_up, profile, catalog):
    set_mode(profile, DoubleOptIn.NEW_ONLY)
    before = row_counts()
    response = sign_up(topics=[catalog["events"]])
    assert row_counts() == before
    assert len(mail.outbox) == 1
    assert "If it needs to be confirmed" in response.content.decode()


def test_new_only_records_at_once_for_an_address_the_profile_knows(sign_up, profile, catalog):
    set_mode(profile, DoubleOptIn.NEW_ONLY)
    factories.cp_consent(value=ADDRESS, purpose_obj=catalog["offers"], status="opted_out")
    response = sign_up(topics=[catalog["events"]])
    assert mail.outbox == []
    assert status_of(ADDRESS, catalog["newsletter"], catalog["events"]) == OPTED_IN
    assert status_of(ADDRESS, catalog["newsletter"]) == OPTED_IN
    assert "If it needs to be confirmed" in response.content.decode()  # the same answer


def test_new_only_is_per_profile(sign_up, profile, catalog):
    set_mode(profile, DoubleOptIn.NEW_ONLY)
    elsewhere = factories.purpose(profile=factories.compliance_profile())
    factories.cp_consent(value=ADDRESS, purpose_obj=elsewhere, status=OPTED_IN)
    sign_up(topics=[catalog["events"]])
    assert len(mail.outbox) == 1
    assert status_of(ADDRESS, catalog["newsletter"]) is None


@pytest.mark.parametrize("mode", [DoubleOptIn.OFF, DoubleOptIn.NEW_ONLY, DoubleOptIn.ALWAYS])
def test_known_unknown_and_suppressed_addresses_get_the_same_answer(
    sign_up, profile, catalog, mode
):
    set_mode(profile, mode)
    factories.cp_consent(
        value="known@example.org", purpose_obj=catalog["offers"], status="opted_in"
    )
    suppression_add(channel="email", value="gone@example.org")
    bodies = set()
    for address in ("known@example.org", "unknown@example.org", "gone@example.org"):
        response = sign_up(email=address, topics=[catalog["events"]])
        assert response.status_code == 200
        bodies.add(response.content)
    assert len(bodies) == 1
    assert not ContactPointConsent.objects.filter(value="gone@example.org").exists()
    assert all("gone@example.org" not in m.to for m in mail.outbox)


def test_a_suppressed_address_is_not_opted_in_on_confirmation(sign_up, client, profile, catalog):
    set_mode(profile, DoubleOptIn.ALWAYS)
    sign_up(topics=[catalog["events"]])
    suppression_add(channel="email", value=ADDRESS)
    before = row_counts()
    response = client.post(confirmation_path(mail.outbox[0]))
    assert response.status_code == 200
    assert row_counts() == before
    assert not Lead.objects.filter(email=ADDRESS).exists()


def test_invalid_input_is_shown_on_the_form_and_writes_nothing(sign_up, profile, catalog):
    before = row_counts()
    response = sign_up(email="not an address", topics=[catalog["events"]])
    assert response.status_code == 200
    assert "Enter a valid email address." in response.content.decode()
    response = sign_up(email=ADDRESS)
    assert "Choose at least one subscription." in response.content.decode()
    assert row_counts() == before
    assert mail.outbox == []


def test_the_sign_up_and_the_confirmation_are_csrf_protected(profile, catalog):
    set_mode(profile, DoubleOptIn.OFF)
    csrf_client = Client(enforce_csrf_checks=True)
    path = reverse("preference_center:subscribe", args=[profile.slug])
    assert (
        csrf_client.post(path, {"email": ADDRESS, "topic": [catalog["events"].pk]}).status_code
        == 403
    )
    assert row_counts() == (0, 0)
    request = SignUpRequest(
        profile.pk, "email", ADDRESS, (), (catalog["events"].pk,), timezone.now(), None, ""
    )
    confirm_path = reverse("preference_center:confirm", args=[request.dumps()])
    assert csrf_client.get(confirm_path).status_code == 200
    assert csrf_client.post(confirm_path).status_code == 403
    assert row_counts() == (0, 0)
