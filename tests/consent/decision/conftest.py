"""Fixtures of the decision tests: `w`, a profile with a purpose of each model and kind."""

from types import SimpleNamespace

import pytest

from tests import factories
from tests.consent.decision.helpers import Kind, Model


@pytest.fixture
def w(db):
    """A profile with a purpose of each model and kind, and topics."""
    profile = factories.compliance_profile()

    def purpose(name, kind, model, level):
        return factories.purpose(
            profile=profile, name=name, kind=kind, consent_model=model, required_level=level
        )

    world = SimpleNamespace(
        profile=profile,
        marketing=purpose("Marketing", Kind.COMMERCIAL, Model.RESTRICTIVE, 4),
        service_news=purpose("Service news", Kind.COMMERCIAL, Model.NON_RESTRICTIVE, 0),
        notices=purpose("Account notices", Kind.TRANSACTIONAL, Model.NON_RESTRICTIVE, 0),
        transactional=purpose("Transactional", Kind.TRANSACTIONAL, Model.DISABLED, 2),
        tracking=purpose("Tracking", Kind.TRACKING, Model.RESTRICTIVE, 5),
    )
    world.events = factories.topic(purpose_obj=world.marketing, name="Events")
    world.tips = factories.topic(purpose_obj=world.service_news, name="Tips")
    return world
