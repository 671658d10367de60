"""Small factories that build state through the real services."""

import itertools

from common.audit import evidence_from
from consent.models import ComplianceProfile, DataPolicy, Purpose, Topic
from consent.services.contact_points import contact_point_consent_set
from consent.services.data_consents import data_consent_create
from subjects.models import Contact, Lead
from subjects.services import SYSTEM, subject_create

_serial = itertools.count(1)


def policy(**overrides) -> DataPolicy:
    n = next(_serial)
    values = {
        "name": f"Policy {n}",
        "consent_level": 4,
        "validity_days": 365,
        "notice_version": "v1",
    }
    values.update(overrides)
    return DataPolicy.objects.create(**values)


def contact(**data) -> Contact:
    n = next(_serial)
    values = {
        "first_name": "Ada",
        "last_name": f"Lovelace{n}",
        "email": f"ada{n}@Example.ORG",
        "phone": f"+3161234{n:04d}",
    }
    values.update(data)
    return subject_create(model=Contact, data=values, user=SYSTEM)


def lead(**data) -> Lead:
    n = next(_serial)
    values = {
        "first_name": "Alan",
        "last_name": f"Turing{n}",
        "email": f"alan{n}@example.org",
        "phone": f"+3162234{n:04d}",
        "company_name": "Bletchley",
    }
    values.update(data)
    return subject_create(model=Lead, data=values, user=SYSTEM)


def consent(*, subject, policy_obj=None, **kwargs):
    field = subject._meta.model_name
    evidence, data = evidence_from(kwargs, actor=None, source="internal")
    return data_consent_create(
        policy=policy_obj or policy(), **{field: subject}, **data, evidence=evidence
    )


def compliance_profile(**overrides) -> ComplianceProfile:
    n = next(_serial)
    values = {"name": f"Profile {n}", "slug": f"profile-{n}", "notice_version": "n1"}
    values.update(overrides)
    return ComplianceProfile.objects.create(**values)


def purpose(*, profile=None, **overrides) -> Purpose:
    n = next(_serial)
    values = {
        "name": f"Purpose {n}",
        "kind": Purpose.Kind.COMMERCIAL,
        "consent_model": Purpose.ConsentModel.RESTRICTIVE,
        "required_level": 0,
    }
    values.update(overrides)
    return Purpose.objects.create(profile=profile or compliance_profile(), **values)


def topic(*, purpose_obj=None, **overrides) -> Topic:
    n = next(_serial)
    values = {"name": f"Topic {n}"}
    values.update(overrides)
    return Topic.objects.create(purpose=purpose_obj or purpose(), **values)


def cp_consent(*, channel="email", value, purpose_obj, status, source="internal", **kwargs):
    """A contact-point consent through the real service; returns the record."""
    evidence, data = evidence_from(kwargs, actor=None, source=source)
    record, _, _ = contact_point_consent_set(
        channel=channel, value=value, purpose=purpose_obj, status=status, **data, evidence=evidence
    )
    return record
