"""`consent-loads/` (DESIGN §4): POST a file → 202 with `id`; GET → status, counts, row errors."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from consent.models import ComplianceProfile, ConsentLoad, ContactPointConsent
from tests import factories

URL = "/api/v1/consent-loads/"
HEADER = "channel,value,purpose,topic,status,source,reason,captured_at,requested_by\n"
GOOD = HEADER + "email,ada@example.org,Commercial,,opted_in,,,,\n"
MIXED = GOOD + "email,broken,Commercial,,opted_in,,,,\n"


def upload(content: str | bytes, name: str = "consents.csv") -> SimpleUploadedFile:
    data = content.encode() if isinstance(content, str) else content
    return SimpleUploadedFile(name, data, content_type="text/csv")


@pytest.fixture
def post(as_dpo, django_capture_on_commit_callbacks):
    """POST as a DPO; the job runs (eagerly) once the request's transaction commits."""

    def send(data, client=None):
        with django_capture_on_commit_callbacks(execute=True):
            return (client or as_dpo).post(URL, data, format="multipart")

    return send


def test_post_answers_202_with_the_id_and_the_job_loads_the_file(post, as_dpo, dpo):
    response = post({"file": upload(GOOD), "mode": "skip"})

    assert response.status_code == 202, response.json()
    body = response.json()
    assert response["Location"] == f"{URL}{body['id']}/"
    assert body["status"] == "pending"
    load = as_dpo.get(f"{URL}{body['id']}/").json()
    assert (load["status"], load["file_name"], load["mode"]) == ("done", "consents.csv", "skip")
    assert load["counts"]["opt_ins"] == load["counts"]["written"] == 1
    assert (load["rows_processed"], load["rows_total"], load["progress_percent"]) == (1, 1, 100)
    record = ContactPointConsent.objects.get()
    assert record.history.get().history_user == dpo
    assert load["created_by_name"] == "dpo"


def test_get_shows_the_row_errors_of_a_refused_load(post, as_dpo):
    load_id = post({"file": upload(MIXED)}).json()["id"]

    load = as_dpo.get(f"{URL}{load_id}/").json()
    assert load["status"] == "failed"
    assert "nothing was written" in load["message"]
    (error,) = load["row_errors"]
    assert (error["line"], error["column"], error["kind"]) == (3, "value", "invalid")
    assert "valid email address" in error["message"]
    assert (load["counts"]["invalid"], load["row_errors_total"]) == (1, 1)
    assert ContactPointConsent.objects.count() == 0


def test_a_dry_run_is_previewed_and_writes_nothing(post, as_dpo):
    load_id = post({"file": upload(MIXED), "dry_run": "true", "mode": "skip"}).json()["id"]

    load = as_dpo.get(f"{URL}{load_id}/").json()
    assert (load["status"], load["dry_run"]) == ("previewed", True)
    assert (load["counts"]["opt_ins"], load["counts"]["invalid"]) == (1, 1)
    assert ContactPointConsent.objects.count() == 0


def test_the_profile_defaults_to_the_default_profile_and_can_be_chosen(post):
    other = factories.compliance_profile()
    factories.purpose(profile=other, name="Commercial")

    default = post({"file": upload(GOOD)}).json()
    chosen = post({"file": upload(GOOD), "profile": other.pk}).json()

    assert default["profile"] == ComplianceProfile.objects.default().pk
    assert chosen["profile"] == other.pk
    assert ContactPointConsent.objects.filter(purpose__profile=other).count() == 1


def test_migration_mode_needs_no_file(post, as_dpo):
    factories.contact(email="ada@example.org")
    load_id = post({"from_subjects": "true"}).json()["id"]

    load = as_dpo.get(f"{URL}{load_id}/").json()
    assert (load["status"], load["from_subjects"], load["counts"]["written"]) == ("done", True, 3)


@pytest.mark.parametrize(
    "data, field, message",
    [
        ({}, "file", "Upload a CSV file."),
        ({"file": b"\x89PNG\r\n\x1a\n\x00\x00"}, "file", "not UTF-8"),
        ({"file": b""}, "file", "The file is empty."),
        ({"file": b"name,email\n"}, "file", "missing column(s) channel"),
        ({"file": GOOD.encode(), "mode": "ignore"}, "mode", "is not a valid choice"),
        ({"file": GOOD.encode(), "dry_run": "maybe"}, "dry_run", "Must be a valid boolean"),
        ({"file": GOOD.encode(), "profile": 999_999}, "profile", "does not exist"),
        ({"file": GOOD.encode(), "profile": "default"}, "profile", "Incorrect type"),
        ({"file": GOOD.encode(), "from_subjects": "true"}, "file", "no file"),
        ({"file": "a form field, not a file"}, "file", "not a file"),
    ],
)
def test_bad_input_answers_400_per_field_and_stores_nothing(as_dpo, data, field, message):
    # bytes are uploaded as a file; a str is sent as a plain form field
    data = {k: upload(v) if isinstance(v, bytes) else v for k, v in data.items()}
    response = as_dpo.post(URL, data, format="multipart")

    assert response.status_code == 400
    body = response.json()
    assert any(message in text for text in body[field]), body
    assert not ConsentLoad.objects.exists()


def test_the_list_is_newest_first_without_row_errors_and_filters_by_status(post, as_dpo):
    first = post({"file": upload(MIXED)}).json()["id"]
    second = post({"file": upload(GOOD)}).json()["id"]

    listing = as_dpo.get(URL).json()
    assert [load["id"] for load in listing["results"]] == [second, first]
    assert "row_errors" not in listing["results"][0]
    assert listing["results"][0]["counts"]["written"] == 1
    failed = as_dpo.get(URL, {"status": "failed"}).json()["results"]
    assert [load["id"] for load in failed] == [first]
    assert as_dpo.get(URL, {"colour": "red"}).status_code == 400


def test_marketing_may_load_the_service_desk_and_anonymous_callers_may_not(
    post, client_for, marketer, service_desk
):
    assert post({"file": upload(GOOD)}, client=client_for(marketer)).status_code == 202
    desk = client_for(service_desk)
    assert desk.post(URL, {"file": upload(GOOD)}, format="multipart").status_code == 403
    assert desk.get(URL).status_code == 403
    assert client_for(None).get(URL).status_code == 401
    assert client_for(None).post(URL, {"file": upload(GOOD)}).status_code == 401
    assert ConsentLoad.objects.count() == 1


def test_an_unknown_load_is_404(as_dpo):
    assert as_dpo.get(f"{URL}424242/").status_code == 404
