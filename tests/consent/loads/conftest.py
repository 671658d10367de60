"""Fixtures of the consent-load tests (the profile, Commercial and Newsletter are in
tests/consent/conftest.py): a user who may load."""

import pytest


@pytest.fixture
def loader(make_user):
    return make_user("loader", perms=["consent.add_consentload", "consent.view_consentload"])
