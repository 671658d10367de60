"""consent.services.configuration: a purpose stays in its profile and a topic in its purpose,
whichever entry point asks (the service, the API, the admin)."""

import pytest
from django.core.exceptions import ValidationError

from consent.models import Purpose, Topic
from consent.services.configuration import configuration_save, configuration_validate
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def purpose():
    return factories.purpose()


@pytest.fixture
def topic(purpose):
    return factories.topic(purpose_obj=purpose)


def test_a_purpose_cannot_move_to_another_profile(purpose):
    other = factories.compliance_profile()
    with pytest.raises(ValidationError) as refused:
        configuration_save(purpose, {"profile": other}, user=None, source="internal")
    assert "profile" in refused.value.error_dict
    assert Purpose.objects.get(pk=purpose.pk).profile_id != other.pk


def test_a_topic_cannot_move_to_another_purpose(topic):
    other = factories.purpose()
    with pytest.raises(ValidationError) as refused:
        configuration_validate(topic, {"purpose": other})
    assert "purpose" in refused.value.error_dict
    assert topic.purpose_id != other.pk  # the validation works on a copy


def test_a_purpose_keeps_its_profile_when_renamed(purpose):
    configuration_save(
        purpose, {"profile": purpose.profile, "name": "Renamed"}, user=None, source="internal"
    )
    assert Purpose.objects.get(pk=purpose.pk).name == "Renamed"


def test_the_api_refuses_the_move(admin_user, client_for, purpose, topic):
    api = client_for(admin_user)
    other_profile, other_purpose = factories.compliance_profile(), factories.purpose()
    response = api.patch(f"/api/v1/purposes/{purpose.pk}/", {"profile": other_profile.pk})
    assert response.status_code == 400 and "profile" in response.json()
    response = api.patch(f"/api/v1/topics/{topic.pk}/", {"purpose": other_purpose.pk})
    assert response.status_code == 400 and "purpose" in response.json()


def _admin_post(client, url, changes):
    from tests.security.test_admin_partial_writes import page_data

    data = page_data(client.get(url))
    data.update(changes)
    return client.post(url, data)


def test_the_admin_refuses_the_move(admin_user, client, purpose, topic):
    client.force_login(admin_user)
    other_profile, other_purpose = factories.compliance_profile(), factories.purpose()
    response = _admin_post(
        client, f"/admin/consent/purpose/{purpose.pk}/change/", {"profile": other_profile.pk}
    )
    assert response.status_code == 200
    assert "cannot move to another profile" in str(response.context["adminform"].form.errors)
    response = _admin_post(
        client, f"/admin/consent/topic/{topic.pk}/change/", {"purpose": other_purpose.pk}
    )
    assert response.status_code == 200
    assert Purpose.objects.get(pk=purpose.pk).profile_id == purpose.profile_id
    assert Topic.objects.get(pk=topic.pk).purpose_id == purpose.pk
