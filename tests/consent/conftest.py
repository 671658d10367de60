"""Fixtures shared by the consent tests: the default compliance profile, its Commercial purpose
(restrictive, required level 4) and a Newsletter topic under it."""

import pytest

from consent.models import ComplianceProfile
from tests import factories


@pytest.fixture
def profile(db):
    return ComplianceProfile.objects.default()


@pytest.fixture
def commercial(profile):
    return profile.purposes.get(name="Commercial")  # kind commercial, restrictive, level 4


@pytest.fixture
def newsletter(commercial):
    return factories.topic(purpose_obj=commercial, name="Newsletter")
