"""A confidential data consent exists only for its owner user, its owner team and the DPO role
(DESIGN §3.2): every admin page and API answer that could show it is checked for its id and
its note, for users who may and may not see it."""

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from rest_framework.test import APIClient

from common.admin import dpo_views
from common.audit import Evidence
from consent.models import DataConsent
from consent.roles import SERVICE_DESK
from consent.services.data_consents import data_consent_create

SECRET_NOTE = "Zqx7 secret arrangement with the works council"
TEAM_NOTE = "Wvk3 legal hold note"
PUBLIC_NOTE = "Plain note anyone may read"
# user fixture name -> which confidential consents it may see
ENTITLED = {
    "dpo": {"secret", "team"},
    "owner": {"secret"},
    "team_member": {"team"},
    "service_desk": set(),
    "marketer": set(),
}


@pytest.fixture
def owner(make_user):
    return make_user("owner", role=SERVICE_DESK)


@pytest.fixture
def team_member(make_user):
    user = make_user("legal", role=SERVICE_DESK)
    user.groups.add(Group.objects.get_or_create(name="Legal")[0])
    return user


@pytest.fixture
def world(owner, team_member, contact, policy):
    legal = Group.objects.get(name="Legal")
    return {
        "contact": contact,
        "secret": data_consent_create(
            policy=policy,
            contact=contact,
            confidential=True,
            owner_user=owner,
            evidence=Evidence(source="internal", description=SECRET_NOTE),
        ),
        "team": data_consent_create(
            policy=policy,
            contact=contact,
            confidential=True,
            owner_team=legal,
            evidence=Evidence(source="internal", description=TEAM_NOTE),
        ),
        "public": data_consent_create(
            policy=policy,
            contact=contact,
            evidence=Evidence(source="internal", description=PUBLIC_NOTE),
        ),
    }


def _cases(world, user_name):
    notes = {"secret": SECRET_NOTE, "team": TEAM_NOTE}
    return [
        (name, world[name], notes[name], name in ENTITLED[user_name]) for name in ("secret", "team")
    ]


def _admin_ids(client, url) -> set[int]:
    response = client.get(url)
    assert response.status_code == 200, url
    return {obj.pk for obj in response.context["cl"].result_list}


@pytest.fixture(params=sorted(ENTITLED))
def user_name(request):
    return request.param


@pytest.fixture
def viewer(request, user_name, world):
    return request.getfixturevalue(user_name)


def test_admin_shows_a_confidential_consent_only_to_who_may_see_it(
    client, world, user_name, viewer
):
    client.force_login(viewer)
    contact = world["contact"]
    changelist = reverse("admin:consent_dataconsent_changelist")
    change, history, timeline, report = (
        client.get(reverse(f"admin:subjects_contact_{page}", args=[contact.pk])).content.decode()
        for page in ("change", "history", "timeline", "access_report")
    )
    # The dashboard's drill-down links: the data consent changelist, one link per view.
    dashboard = client.get(reverse("admin:index")).context["dpo_dashboard"]
    urls = {None: changelist} | {
        row["url"].split("?view=")[1]: row["url"]
        for section in dashboard
        for row in section["rows"]
        if row["url"].startswith(changelist)
    }
    assert set(urls) == {None, *dpo_views(DataConsent)}
    listed = {view: _admin_ids(client, url) for view, url in urls.items()}
    assert world["public"].pk in listed["all"]  # the lists do show this user consents

    for name, consent, note, visible in _cases(world, user_name):
        assert {view for view, ids in listed.items() if consent.pk in ids} == _expected_views(
            consent, visible, listed
        ), name
        consent_page = client.get(reverse("admin:consent_dataconsent_change", args=[consent.pk]))
        consent_history = client.get(
            reverse("admin:consent_dataconsent_history", args=[consent.pk])
        )
        assert (consent_page.status_code, consent_history.status_code) == (
            (200, 200) if visible else (302, 404)
        ), name
        assert (note in consent_page.content.decode()) is visible, name
        link = reverse("admin:consent_dataconsent_change", args=[consent.pk])
        assert (link in change) is visible, name  # the subject page's inline
        assert link not in history and note not in history, name
        assert (f"data consent #{consent.pk}" in timeline, note in timeline) == (visible, visible)
        assert (note in report) is visible, name


def _expected_views(consent, visible: bool, views) -> set:
    if not visible:
        return set()
    return {
        view
        for view in views
        if view is None or DataConsent.objects.for_view(view).filter(pk=consent.pk).exists()
    }


def test_api_shows_a_confidential_consent_only_to_who_may_see_it(world, user_name, viewer):
    client = APIClient()
    client.force_authenticate(viewer)
    contact = world["contact"]
    views = [None, *dpo_views(DataConsent)]
    listed = {}
    for view in views:
        params = {"page_size": 500, **({"view": view} if view else {})}
        response = client.get("/api/v1/data-consents/", params)
        assert response.status_code == 200, (view, response.content)
        listed[view] = {row["id"] for row in response.json()["results"]}
    assert world["public"].pk in listed[None]
    timeline = client.get(f"/api/v1/contacts/{contact.pk}/timeline/")
    report = client.get(f"/api/v1/contacts/{contact.pk}/access-report/")
    assert (timeline.status_code, report.status_code) == (200, 200)
    timeline_ids = {
        entry["object_id"] for entry in timeline.json() if entry["object_type"] == "data_consent"
    }
    report_ids = {row["id"] for row in report.json()["data_consents"]}

    for name, consent, note, visible in _cases(world, user_name):
        assert {view for view, ids in listed.items() if consent.pk in ids} == _expected_views(
            consent, visible, views
        ), name
        detail = client.get(f"/api/v1/data-consents/{consent.pk}/")
        assert detail.status_code == (200 if visible else 404), name
        assert (consent.pk in timeline_ids, consent.pk in report_ids) == (visible, visible), name
        assert (note in timeline.content.decode()) is visible, name
        assert (note in report.content.decode()) is visible, name


def test_who_may_not_see_a_confidential_consent_cannot_change_or_cancel_it(
    world, service_desk, client
):
    """The service desk holds cancel and add rights, but not on a consent it cannot see."""
    api = APIClient()
    api.force_authenticate(service_desk)
    consent = world["secret"]
    assert api.post(f"/api/v1/data-consents/{consent.pk}/cancel/").status_code == 404
    assert api.patch(f"/api/v1/data-consents/{consent.pk}/", {"note": "x"}).status_code in (
        403,  # no change right at all
        404,
    )
    client.force_login(service_desk)
    client.post(
        reverse("admin:consent_dataconsent_changelist"),
        {"action": "cancel_selected", "_selected_action": [consent.pk]},
    )
    consent.refresh_from_db()
    assert (consent.state, consent.note) == (DataConsent.State.ACTIVE, SECRET_NOTE)
