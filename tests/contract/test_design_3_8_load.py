"""DESIGN §3.8: the consent load through the API, as an integrator uploads a file."""

from datetime import UTC, datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from consent.models import ContactPointConsent
from tests import factories

URL = "/api/v1/consent-loads/"
HEADER = "channel,value,purpose,topic,status,source,reason,captured_at,requested_by\n"


def upload(content: str) -> SimpleUploadedFile:
    return SimpleUploadedFile("export.csv", ("\ufeff" + content).encode(), "text/csv")


@pytest.fixture
def post(as_dpo, django_capture_on_commit_callbacks):
    def send(data):
        with django_capture_on_commit_callbacks(execute=True):
            response = as_dpo.post(URL, data, format="multipart")
        assert response.status_code == 202, response.content
        return as_dpo.get(f"{URL}{response.json()['id']}/").json()

    return send


def test_purpose_and_topic_by_name_and_source_defaults_to_loaded(post, commercial):
    events = factories.topic(purpose_obj=commercial, name="Events")
    content = (
        HEADER
        + "email,ada@example.org,Commercial,Events,opted_in,,import,2025-03-01T10:00:00Z,CRM\n"
        + "sms,+31612345678,Commercial,,opted_out,form,,,\n"
    )
    load = post({"file": upload(content)})
    assert load["status"] == "done", load
    topic_row = ContactPointConsent.objects.get(channel="email")
    assert (topic_row.purpose, topic_row.topic, topic_row.source) == (commercial, events, "loaded")
    assert topic_row.captured_at == datetime(2025, 3, 1, 10, tzinfo=UTC)
    assert (topic_row.reason, topic_row.requested_by) == ("import", "CRM")
    assert ContactPointConsent.objects.get(channel="sms").source == "form"


def test_the_preview_reports_each_kind_of_change(post, commercial):
    factories.cp_consent(
        value="same@example.org",
        purpose_obj=commercial,
        status="opted_in",
        source="loaded",
        captured_at=datetime(2025, 2, 1, tzinfo=UTC),
    )
    factories.cp_consent(
        value="newer@example.org",
        purpose_obj=commercial,
        status="opted_in",
        captured_at=datetime(2025, 6, 1, tzinfo=UTC),
    )
    content = HEADER + (
        "email,new@example.org,Commercial,,opted_in,,,,\n"
        "email,gone@example.org,Commercial,,opted_out,,,,\n"
        "email,same@example.org,Commercial,,opted_in,,,2025-02-01T00:00:00Z,\n"
        "email,newer@example.org,Commercial,,opted_out,,,2025-01-01T00:00:00Z,\n"
        "email,broken,Commercial,,opted_in,,,,\n"
    )
    before = ContactPointConsent.objects.count()
    load = post({"file": upload(content), "dry_run": "true", "mode": "skip"})
    assert load["status"] == "previewed"
    counts = load["counts"]
    assert (counts["opt_ins"], counts["opt_outs"], counts["stale"], counts["invalid"]) == (
        1,
        1,
        1,
        1,
    )
    assert counts["unchanged"] == 1
    assert ContactPointConsent.objects.count() == before
