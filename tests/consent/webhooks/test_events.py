"""The outbox (consent/webhooks/events.py): what the services write, in their transaction."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from common.audit import Evidence
from consent.addresses import normalized_address_hash
from consent.models import WebhookDelivery, WebhookEndpoint, WebhookEventType
from consent.services.contact_points import (
    contact_point_consent_set,
    contact_point_consents_expire,
)
from consent.services.data_consents import data_consent_cancel, data_consents_expire
from consent.services.erasure import subject_anonymize
from consent.services.webhooks import webhook_endpoint_save
from tests import factories

ALL = list(WebhookEventType.values)


def endpoint(**data) -> WebhookEndpoint:
    values = {"url": "http://127.0.0.1:9/hooks", "events": ALL, **data}
    return webhook_endpoint_save(endpoint=WebhookEndpoint(), data=values)


def deliveries(event_type=None):
    rows = WebhookDelivery.objects.order_by("pk")
    return list(rows.filter(event_type=event_type) if event_type else rows)


@pytest.fixture
def commercial(db):
    return factories.purpose(name="Commercial")


def test_a_contact_point_change_writes_one_delivery_per_subscribed_endpoint(commercial):
    first = endpoint()
    endpoint(events=["subject.anonymized"])  # not subscribed to the change
    endpoint(active=False)  # inactive
    record = factories.cp_consent(
        value="Ann@Example.org", purpose_obj=commercial, status="opted_in", reason="web form"
    )
    (delivery,) = deliveries()
    assert delivery.endpoint == first
    assert delivery.event_type == "contact_point_consent.changed"
    assert delivery.event_id.startswith("msg_")
    assert delivery.status == "pending"
    hashed = normalized_address_hash("ann@example.org")
    assert delivery.address_key == f"email:{hashed}"
    assert delivery.data == {
        "id": record.pk,
        "channel": "email",
        "value": "ann@example.org",
        "address_hash": hashed,
        "purpose": commercial.pk,
        "purpose_name": "Commercial",
        "topic": None,
        "topic_name": None,
        "status": "opted_in",
        "source": "internal",
        "reason": "web form",
        "captured_at": delivery.data["captured_at"],
        "expires_at": None,
        "notice_version": commercial.profile.notice_version,
    }
    assert set(delivery.body) == {"id", "type", "created_at", "data"}


def test_an_unchanged_set_emits_nothing_and_a_rolled_back_change_leaves_no_delivery(commercial):
    endpoint()
    evidence = Evidence(source="internal", reason="r")
    args = {"channel": "email", "value": "b@example.org", "purpose": commercial}
    contact_point_consent_set(**args, status="opted_in", evidence=evidence)
    contact_point_consent_set(**args, status="opted_in", evidence=evidence)
    assert len(deliveries()) == 1
    with pytest.raises(RuntimeError), transaction.atomic():
        contact_point_consent_set(**args, status="opted_out", evidence=evidence)
        raise RuntimeError("the caller fails after the change")
    assert len(deliveries()) == 1


def test_no_endpoint_no_outbox_row(commercial):
    factories.cp_consent(value="c@example.org", purpose_obj=commercial, status="opted_in")
    assert WebhookDelivery.objects.count() == 0


def test_the_delivery_run_is_started_only_after_commit(
    commercial, django_capture_on_commit_callbacks
):
    endpoint()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        factories.cp_consent(value="d@example.org", purpose_obj=commercial, status="opted_in")
    assert len(callbacks) == 1


def test_a_confidential_data_consent_goes_only_to_endpoints_marked_for_it(db, dpo):
    plain = endpoint(events=["data_consent.changed"])
    trusted = endpoint(events=["data_consent.changed"], receives_confidential=True)
    subject = factories.contact()
    factories.consent(subject=subject)
    factories.consent(subject=subject, confidential=True, owner_user=dpo)
    rows = deliveries("data_consent.changed")
    assert [(r.endpoint_id, r.data["confidential"]) for r in rows] == [
        (plain.pk, False),
        (trusted.pk, False),
        (trusted.pk, True),
    ]
    assert all(r.address_key == f"contact:{subject.pk}" for r in rows)
    assert rows[-1].data["action"] == "created"


def test_cancel_and_expiry_emit_data_consent_changed(db):
    endpoint(events=["data_consent.changed"])
    subject = factories.lead()
    cancelled = factories.consent(subject=subject)
    data_consent_cancel(consent=cancelled, note="asked")
    due = factories.consent(subject=subject, given_at=timezone.now() - timedelta(days=400))
    assert data_consents_expire() == 1
    actions = [(r.data["id"], r.data["action"], r.data["state"]) for r in deliveries()]
    assert actions == [
        (cancelled.pk, "created", "active"),
        (cancelled.pk, "cancelled", "inactive"),
        (due.pk, "created", "active"),
        (due.pk, "expired", "inactive"),
    ]


def test_the_contact_point_expiry_sweep_emits_one_event_per_expired_opt_in(commercial):
    endpoint(events=["contact_point_consent.changed"])
    past = timezone.now() - timedelta(days=1)
    for n in range(3):
        contact_point_consent_set(
            channel="email",
            value=f"e{n}@example.org",
            purpose=commercial,
            status="opted_in",
            evidence=Evidence(source="internal"),
            expires_at=past,
        )
    WebhookDelivery.objects.all().delete()
    assert contact_point_consents_expire() == 3
    rows = deliveries()
    assert [r.data["status"] for r in rows] == ["not_set"] * 3
    assert {r.data["value"] for r in rows} == {"e0@example.org", "e1@example.org", "e2@example.org"}


def test_anonymization_sends_subject_anonymized_without_personal_data_and_scrubs_the_outbox(
    commercial,
):
    endpoint()
    subject = factories.contact(email="Erin@Example.org", phone="+31612340000")
    consent = factories.consent(subject=subject)
    factories.cp_consent(value="erin@example.org", purpose_obj=commercial, status="opted_out")
    record = subject_anonymize(subject=subject)

    (event,) = deliveries("subject.anonymized")
    email_hash = normalized_address_hash("erin@example.org")
    phone_hash = normalized_address_hash("+31612340000")
    assert event.address_key == f"contact:{subject.pk}"
    assert event.data["erasure_record"] == record.pk
    assert event.data["subject_id"] == subject.pk
    assert {"channel": "email", "address_hash": email_hash} in event.data["addresses"]
    assert {"channel": "sms", "address_hash": phone_hash} in event.data["addresses"]
    (suppression,) = deliveries("suppression.created")
    assert suppression.data["address_hash"] == email_hash
    assert suppression.address_key == f"email:{email_hash}"
    anonymized = [r.data for r in deliveries("data_consent.changed")][-1]
    assert (anonymized["id"], anonymized["action"]) == (consent.pk, "anonymized")
    # No copy of the address survives in the outbox, delivered or not.
    for row in WebhookDelivery.objects.all():
        assert "erin@example.org" not in str(row.data).lower()
        assert "+31612340000" not in str(row.data)
    changed = deliveries("contact_point_consent.changed")[0]
    assert changed.data["value"] is None and changed.data["address_hash"] == email_hash


def test_a_consent_load_emits_one_event_per_written_record(commercial, make_user):
    from consent.loads.runner import consent_load_create, consent_load_run

    endpoint(events=["contact_point_consent.changed"])
    csv = (
        "channel,value,purpose,topic,status,source,reason,captured_at,requested_by\n"
        f"email,l1@example.org,{commercial.name},,opted_in,,,2025-01-01T00:00:00,\n"
        f"email,l2@example.org,{commercial.name},,opted_out,,,2025-01-01T00:00:00,\n"
    )
    from django.core.files.uploadedfile import SimpleUploadedFile

    user = make_user("loader", perms=["consent.add_consentload"])
    load = consent_load_create(
        profile=commercial.profile,
        file=SimpleUploadedFile("l.csv", csv.encode()),
        file_name="l.csv",
        user=user,
        dispatch=False,
    )
    assert consent_load_run(load=load).status == "done"
    rows = deliveries()
    assert sorted((r.data["value"], r.data["status"]) for r in rows) == [
        ("l1@example.org", "opted_in"),
        ("l2@example.org", "opted_out"),
    ]
    assert all(r.data["source"] == "loaded" for r in rows)
