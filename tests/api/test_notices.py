"""`notices/` (DESIGN §3.9, §4): CRUD of drafts, publish, no change or DELETE once published."""

import pytest

from consent.models import ComplianceProfile

pytestmark = pytest.mark.django_db

URL = "/api/v1/notices/"


@pytest.fixture
def profile():
    return ComplianceProfile.objects.default()


def draft(client, profile, **overrides):
    body = {
        "profile": profile.pk,
        "version": "2025-1",
        "language": "en",
        "title": "Privacy notice",
        "url": "https://example.org/privacy/2025-1",
        "text": "We keep your address to send you what you asked for.",
        "material": True,
        **overrides,
    }
    response = client.post(URL, body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_create_publish_and_the_profile_is_in_force_with_it(as_dpo, profile):
    notice = draft(as_dpo, profile)
    assert notice["profile_name"] == profile.name and notice["published_at"] is None
    published = as_dpo.post(f"{URL}{notice['id']}/publish/")
    assert published.status_code == 200 and published.json()["published_at"]
    profile.refresh_from_db()
    assert profile.notice_version == "2025-1"
    assert profile.notice_url == "https://example.org/privacy/2025-1"
    assert as_dpo.post(f"{URL}{notice['id']}/publish/").status_code == 409


def test_a_published_notice_cannot_be_deleted_or_rewritten(as_dpo, profile):
    notice = draft(as_dpo, profile)
    as_dpo.post(f"{URL}{notice['id']}/publish/")
    deleted = as_dpo.delete(f"{URL}{notice['id']}/")
    assert deleted.status_code == 409
    assert "never be changed or deleted" in deleted.json()["detail"]
    rewritten = as_dpo.patch(f"{URL}{notice['id']}/", {"text": "Other"}, format="json")
    assert rewritten.status_code == 409
    assert (
        as_dpo.patch(f"{URL}{notice['id']}/", {"title": "New"}, format="json").json()["title"]
        == "New"
    )


def test_a_draft_can_be_deleted(as_dpo, profile):
    notice = draft(as_dpo, profile)
    assert as_dpo.delete(f"{URL}{notice['id']}/").status_code == 204


def test_exactly_one_owner_and_unique_versions(as_dpo, profile, policy):
    both = as_dpo.post(
        URL,
        {"profile": profile.pk, "policy": policy.pk, "version": "1", "title": "t", "text": "x"},
        format="json",
    )
    assert both.status_code == 400 and "profile" in both.json()
    draft(as_dpo, profile)
    again = as_dpo.post(
        URL, {"profile": profile.pk, "version": "2025-1", "title": "t", "text": "x"}, format="json"
    )
    assert again.status_code == 400


def test_marketing_may_not_write_notices(client_for, marketer, profile):
    response = client_for(marketer).post(
        URL, {"profile": profile.pk, "version": "9", "title": "t", "text": "x"}, format="json"
    )
    assert response.status_code == 403
