"""The consent-load admin (DESIGN §3.8): upload → preview → confirm → progress → result, and
the row errors as a CSV without formulas."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from consent.loads.runner import consent_load_create, consent_load_run
from consent.models import ComplianceProfile, ConsentLoad, ContactPointConsent
from tests import factories

HEADER = "channel,value,purpose,topic,status,source,reason,captured_at,requested_by\n"
MIXED = (
    HEADER + "email,ada@example.org,Commercial,,opted_in,,,,\n"
    "email,broken,Commercial,,opted_in,,,,\n"
    'email,bob@example.org,=HYPERLINK("x"),,opted_out,,,,\n'
)
ADD = reverse("admin:consent_consentload_add")


def page(load: ConsentLoad) -> str:
    return reverse("admin:consent_consentload_load", args=[load.pk])


@pytest.fixture
def dpo_client(client, dpo):
    client.force_login(dpo)
    return client


def upload(client, content=MIXED, mode="skip", **extra):
    data = {
        "file": SimpleUploadedFile("legacy.csv", content.encode(), content_type="text/csv"),
        "profile": ComplianceProfile.objects.default().pk,
        "mode": mode,
        **extra,
    }
    return client.post(ADD, data)


def test_the_whole_flow_upload_preview_confirm_progress_result(
    dpo_client, dpo, django_capture_on_commit_callbacks
):
    form = dpo_client.get(ADD)
    assert form.status_code == 200
    assert b'name="file"' in form.content and b'name="mode"' in form.content

    with django_capture_on_commit_callbacks(execute=True):
        uploaded = upload(dpo_client)
    preview = ConsentLoad.objects.get()
    assert uploaded.status_code == 302 and uploaded["Location"] == page(preview)
    assert (preview.status, preview.dry_run, preview.created_by) == ("previewed", True, dpo)
    assert ContactPointConsent.objects.count() == 0

    shown = dpo_client.get(page(preview)).content.decode()
    assert "Nothing has been written yet" in shown
    assert '<tr class="count-opt_ins"><th scope="row">New opt-ins</th><td>1</td>' in shown
    assert '<tr class="count-invalid"><th scope="row">Invalid rows</th><td>2</td>' in shown
    assert 'id="confirm-form"' in shown
    assert "http-equiv" not in shown

    confirm_url = reverse("admin:consent_consentload_confirm", args=[preview.pk])
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        confirmed = dpo_client.post(confirm_url)
    load = ConsentLoad.objects.get(preview=preview)
    assert confirmed["Location"] == page(load)

    running = dpo_client.get(page(load)).content.decode()  # the job has not run yet
    assert '<meta http-equiv="refresh" content="2">' in running
    assert '<progress id="load-progress" value="0" max="3">' in running

    for callback in callbacks:
        callback()
    load.refresh_from_db()
    assert (load.status, load.counts["written"]) == ("done", 1)
    assert ContactPointConsent.objects.count() == 1

    result = dpo_client.get(page(load)).content.decode()
    assert "http-equiv" not in result and "confirm-form" not in result
    assert '<tr class="count-written"><th scope="row">Written</th><td>1</td>' in result
    assert f"preview #{preview.pk}" in result
    assert reverse("admin:consent_consentload_errors", args=[load.pk]) in result


def test_the_row_errors_download_as_csv_without_formulas(dpo_client):
    load = consent_load_run(
        load=consent_load_create(file=MIXED.encode(), mode="skip", dispatch=False)
    )
    load.row_errors.append({"line": 9, "column": "reason", "kind": "invalid", "message": "=1+2"})
    load.save()

    response = dpo_client.get(reverse("admin:consent_consentload_errors", args=[load.pk]))

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert f"consent-load-{load.pk}-errors.csv" in response["Content-Disposition"]
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines[0] == "line,column,kind,message"
    assert lines[1].startswith("3,value,invalid,Enter a valid email address")
    assert lines[2].startswith("4,purpose,invalid,\"Unknown purpose '=HYPERLINK")
    assert lines[3] == "9,reason,invalid,'=1+2"


def test_a_reject_preview_with_invalid_rows_offers_no_confirmation(
    dpo_client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        upload(dpo_client, mode="reject")
    preview = ConsentLoad.objects.get()

    shown = dpo_client.get(page(preview)).content.decode()
    assert "confirm-form" not in shown
    assert "Mode reject: the file has invalid rows" in shown
    refused = dpo_client.post(reverse("admin:consent_consentload_confirm", args=[preview.pk]))
    assert refused.status_code == 302
    assert ConsentLoad.objects.count() == 1 and ContactPointConsent.objects.count() == 0


def test_a_file_that_is_not_csv_is_refused_on_the_form(dpo_client):
    response = dpo_client.post(
        ADD,
        {
            "file": SimpleUploadedFile("photo.csv", b"\x89PNG\r\n\x1a\n\x00\x00"),
            "profile": ComplianceProfile.objects.default().pk,
            "mode": "reject",
        },
    )

    assert response.status_code == 200
    assert "not UTF-8" in response.content.decode()
    assert not ConsentLoad.objects.exists()


def test_the_migration_mode_is_offered_on_the_same_form(
    dpo_client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = dpo_client.post(
            ADD,
            {
                "profile": ComplianceProfile.objects.default().pk,
                "mode": "reject",
                "from_subjects": "on",
            },
        )
    load = ConsentLoad.objects.get()
    assert response["Location"] == page(load)
    assert (load.from_subjects, load.status) == (True, "previewed")
    assert "Migration from subjects" in dpo_client.get(page(load)).content.decode()


def test_the_changelist_lists_loads_and_the_change_url_leads_to_the_load(dpo_client):
    load = consent_load_create(file=MIXED.encode(), file_name="legacy.csv", dispatch=False)

    listing = dpo_client.get(reverse("admin:consent_consentload_changelist"))
    assert listing.status_code == 200 and "legacy.csv" in listing.content.decode()
    change = dpo_client.get(reverse("admin:consent_consentload_change", args=[load.pk]))
    assert change["Location"] == page(load)


def test_marketing_may_use_it_and_the_service_desk_may_not(client, marketer, service_desk):
    client.force_login(marketer)
    assert client.get(ADD).status_code == 200
    client.force_login(service_desk)
    assert client.get(ADD).status_code == 403
    assert client.get(reverse("admin:consent_consentload_changelist")).status_code == 403
    load = consent_load_create(file=MIXED.encode(), dispatch=False)
    assert client.get(page(load)).status_code == 403
    confirm = reverse("admin:consent_consentload_confirm", args=[load.pk])
    assert client.post(confirm).status_code == 403


def test_the_upload_page_offers_a_sample_file_the_load_accepts(admin_client, db):
    commercial = ComplianceProfile.objects.default().purposes.get(name="Commercial")
    factories.topic(purpose_obj=commercial, name="Newsletter")  # as in the demo data
    page = admin_client.get(reverse("admin:consent_consentload_add")).text
    sample = admin_client.get(reverse("admin:consent_consentload_sample"))

    assert reverse("admin:consent_consentload_sample") in page
    load = consent_load_run(
        load=consent_load_create(file=sample.content, file_name="sample.csv", dispatch=False)
    )
    assert (load.status, load.counts["invalid"], load.counts["written"]) == ("done", 0, 3)
