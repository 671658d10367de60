"""The notices admin and the DPO page "Consents given under an older notice" (DESIGN §3.9)."""

import csv
import io

import pytest
from django.urls import reverse

from common.audit import Source
from consent.models import Notice
from consent.services.notices import notice_create, notice_publish
from marketing_lists.models import MarketingList
from tests import factories

pytestmark = pytest.mark.django_db

RECONSENT = "admin:consent_notice_reconsent"


def make_notice(profile, version, *, published=True, material=True):
    notice = notice_create(
        data={
            "profile": profile,
            "version": version,
            "title": "Notice",
            "text": version,
            "material": material,
        },
        user=None,
        source=Source.INTERNAL,
    )
    if published:
        notice_publish(notice, user=None, source=Source.INTERNAL)
    profile.refresh_from_db()
    return Notice.objects.get(pk=notice.pk)


@pytest.fixture
def world():
    profile = factories.compliance_profile(notice_version="1")
    purpose = factories.purpose(profile=profile)
    ada = factories.contact(email="ada@example.org")
    factories.cp_consent(value="ada@example.org", purpose_obj=purpose, status="opted_in")
    factories.cp_consent(value="nobody@example.org", purpose_obj=purpose, status="opted_in")
    make_notice(profile, "2")
    return profile, purpose, ada


def test_the_page_lists_outdated_opt_ins_by_address(client, dpo, world):
    profile = world[0]
    client.force_login(dpo)
    response = client.get(reverse(RECONSENT), {"profile": profile.pk})
    assert response.status_code == 200
    page = response.content.decode()
    assert "Consents given under an older notice" in page
    assert "version 2" in page
    assert page.index("ada@example.org") < page.index("nobody@example.org")
    assert 'id="reconsent-csv"' in page


def test_the_page_as_csv(client, dpo, world):
    profile, _, _ = world
    client.force_login(dpo)
    response = client.get(reverse(RECONSENT), {"profile": profile.pk, "format": "csv"})
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(row["address"], row["notice_version"]) for row in rows] == [
        ("ada@example.org", "1"),
        ("nobody@example.org", "1"),
    ]


def test_the_page_needs_a_profile_or_a_policy(client, dpo, world):
    client.force_login(dpo)
    response = client.get(reverse(RECONSENT), {"purpose": world[1].pk})
    assert "Choose a compliance profile" in response.content.decode()


def test_the_button_makes_a_static_list_of_the_holders(client, admin_user, world):
    profile, purpose, ada = world
    client.force_login(admin_user)
    response = client.post(
        reverse("admin:marketing_lists_marketinglist_from_reconsent"),
        {"profile": profile.pk, "purpose": purpose.pk, "member_type": "contact"},
    )
    made = MarketingList.objects.get()
    assert response.status_code == 302
    assert made.is_static and made.purpose == purpose
    assert list(made.members.values_list("contact", flat=True)) == [ada.pk]


def test_a_published_notice_cannot_be_deleted_in_the_admin(client, admin_user, world):
    profile = world[0]
    published = Notice.objects.get(profile=profile)
    draft = make_notice(profile, "3", published=False)
    client.force_login(admin_user)
    url = reverse("admin:consent_notice_delete", args=[published.pk])
    assert client.post(url, {"post": "yes"}).status_code == 403
    assert Notice.objects.filter(pk=published.pk).exists()
    client.post(reverse("admin:consent_notice_delete", args=[draft.pk]), {"post": "yes"})
    assert not Notice.objects.filter(pk=draft.pk).exists()


def test_the_publish_action_puts_the_version_in_force(client, admin_user, world):
    profile = world[0]
    draft = make_notice(profile, "3", published=False, material=False)
    client.force_login(admin_user)
    client.post(
        reverse("admin:consent_notice_changelist"),
        {"action": "publish_selected", "_selected_action": [draft.pk]},
    )
    profile.refresh_from_db()
    assert profile.notice_version == "3"


def test_add_a_draft_through_the_admin(client, admin_user, world):
    profile = world[0]
    client.force_login(admin_user)
    response = client.post(
        reverse("admin:consent_notice_add"),
        {
            "profile": profile.pk,
            "version": "4",
            "language": "nl",
            "title": "Privacyverklaring",
            "url": "",
            "text": "Wij bewaren uw adres.",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    notice = Notice.objects.get(version="4")
    assert notice.published_at is None and notice.history.latest().history_user == admin_user
