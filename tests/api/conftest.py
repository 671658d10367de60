import pytest
from rest_framework.test import APIClient


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
def as_dpo(client_for, dpo):
    return client_for(dpo)
