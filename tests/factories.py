"""Small factories that build state through the real services."""

import itertools

from consent import services
from consent.models import DataPolicy
from subjects.models import Contact, Lead
from subjects.services import subject_create

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
    return subject_create(model=Contact, data=values)


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
    return subject_create(model=Lead, data=values)


def consent(*, subject, policy_obj=None, **kwargs):
    field = subject._meta.model_name
    return services.data_consent_create(policy=policy_obj or policy(), **{field: subject}, **kwargs)
