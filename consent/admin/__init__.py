"""The consent app's admin, one module per feature; importing them registers their pages."""

from consent.admin import (  # noqa: F401
    bulk_actions,
    configuration,
    contact_points,
    data_consents,
    erasure,
    loads,
    notices,
    requests,
    subjects,
    webhooks,
)
