import pytest
from django.contrib.auth.models import Group
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from consent.roles import DPO, MARKETING, SERVICE_DESK
from tests import factories


@pytest.fixture
def make_user(db, django_user_model):
    def make(username="staff", *, role=None, superuser=False, perms=()):
        user = django_user_model.objects.create_user(
            username=username, password="pw", is_staff=True, is_superuser=superuser
        )
        if role:
            user.groups.add(Group.objects.get(name=role))
        for perm in perms:
            app_label, codename = perm.split(".")
            from django.contrib.auth.models import Permission

            user.user_permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )
        return user

    return make


@pytest.fixture
def admin_user(make_user):
    return make_user("root", superuser=True)


@pytest.fixture
def dpo(make_user):
    return make_user("dpo", role=DPO)


@pytest.fixture
def marketer(make_user):
    return make_user("marketer", role=MARKETING)


@pytest.fixture
def service_desk(make_user):
    return make_user("desk", role=SERVICE_DESK)


@pytest.fixture
def policy(db):
    return factories.policy()


@pytest.fixture
def contact(db):
    return factories.contact()


@pytest.fixture
def lead(db):
    return factories.lead()


@pytest.fixture
def client_for(db):
    """An API client acting as `user` (None: anonymous)."""

    def make(user=None) -> APIClient:
        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        return client

    return make


@pytest.fixture
def mailer(make_user):
    """A sending system's client: a real DRF token (the token-authentication path itself, not
    `force_authenticate`) of a user who may only check consent."""
    user = make_user("mailer", perms=["consent.check_consent"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.fixture
def as_dpo(client_for, dpo):
    return client_for(dpo)


@pytest.fixture
def prepared_unverified(settings):
    """For query-count tests: PREPARED_QUERY_VERIFY (on in the test settings) runs every prepared
    query through the ORM too, which a count must not include."""
    settings.PREPARED_QUERY_VERIFY = False
