"""Issue #7's acceptance story, whole: a DPO migrating from a contact-based system uploads a
100,000-row export with a few bad rows, sees the preview with the row errors, confirms in skip
mode, watches the progress bar finish, and the consent checks and timelines reflect the load."""

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from consent.models import ComplianceProfile, ConsentLoad, ContactPointConsent
from tests import factories

ROWS = 100_000
BAD_LINES = {2 + 17, 2 + 50_000, 2 + ROWS - 1}  # file lines (line 1 is the header)
HEADER = "channel,value,purpose,topic,status,source,reason,captured_at,requested_by\n"


def export() -> bytes:
    lines = [HEADER]
    for n in range(ROWS):
        if n + 2 in BAD_LINES:
            lines.append(f"email,not-an-address-{n},Commercial,,opted_in,form,,,\n")
        else:
            status = "opted_out" if n % 10 == 0 else "opted_in"
            lines.append(
                f"email,Customer{n}@Example.ORG,Commercial,,{status},form,newsletter form,"
                f"2025-03-01T10:00:00Z,old CRM\n"
            )
    return "".join(lines).encode()


def test_a_dpo_migrates_a_100k_row_export_with_bad_rows(
    client, dpo, django_capture_on_commit_callbacks
):
    holder = factories.contact(email="customer1@example.org")
    client.force_login(dpo)
    with django_capture_on_commit_callbacks(execute=True):
        uploaded = client.post(
            reverse("admin:consent_consentload_add"),
            {
                "file": SimpleUploadedFile("old-crm.csv", export(), content_type="text/csv"),
                "profile": ComplianceProfile.objects.default().pk,
                "mode": "skip",
            },
        )
    preview = ConsentLoad.objects.get()
    assert uploaded.status_code == 302
    page = client.get(uploaded["Location"]).content.decode()
    assert "Nothing has been written yet" in page
    assert '<tr class="count-invalid"><th scope="row">Invalid rows</th><td>3</td>' in page
    for line in BAD_LINES:
        assert f"<td>{line}</td>" in page  # each bad row named by its line
    assert ContactPointConsent.objects.count() == 0

    with django_capture_on_commit_callbacks(execute=False) as job:
        confirmed = client.post(reverse("admin:consent_consentload_confirm", args=[preview.pk]))
    load = ConsentLoad.objects.get(preview=preview)
    running = client.get(confirmed["Location"]).content.decode()
    assert '<progress id="load-progress" value="0"' in running
    for callback in job:  # the Celery job (eager here; tests/jobs runs it on a real worker)
        callback()
    load.refresh_from_db()
    assert (load.status, load.counts["written"], load.counts["invalid"]) == ("done", 99_997, 3)
    finished = client.get(confirmed["Location"]).content.decode()
    assert "http-equiv" not in finished  # no more refreshing: the bar is done
    assert ContactPointConsent.objects.count() == 99_997

    purpose = ComplianceProfile.objects.default().purposes.get(name="Commercial")
    answers = client.post(
        "/api/v1/consent-checks/",
        {
            "checks": [
                {"channel": "email", "value": "customer2@example.org", "purpose": purpose.pk},
                {"channel": "email", "value": "CUSTOMER10@example.org", "purpose": purpose.pk},
                {"channel": "email", "value": "customer17@example.org", "purpose": purpose.pk},
            ]
        },
        content_type="application/json",
    ).json()["results"]
    assert [(a["allowed"], a["reason"]) for a in answers] == [
        (True, "opted_in"),
        (False, "purpose_opted_out"),
        (False, "no_purpose_opt_in"),  # line 19 was invalid: nothing was recorded for it
    ]

    timeline = client.get(f"/api/v1/contacts/{holder.pk}/timeline/").json()
    loaded = [entry for entry in timeline if entry["reason"] == "old-crm.csv"]
    assert len(loaded) == 1, timeline  # the holder's address, opted in by the load
    assert (loaded[0]["source"], loaded[0]["by"]) == ("form", "dpo")  # the row's source
    assert {"field": "status", "old": None, "new": "opted_in"} in loaded[0]["changes"]
