"""Fixtures for the DESIGN.md contract checks: API clients as the external checks use them."""

import pytest

from consent.models import ComplianceProfile

API = "/api/v1/"


@pytest.fixture
def as_root(client_for, admin_user):
    return client_for(admin_user)


@pytest.fixture
def default_profile(db):
    return ComplianceProfile.objects.get(is_default=True)


@pytest.fixture
def commercial(default_profile):
    return default_profile.purposes.get(kind="commercial")
