"""Field filters of data policies and data consents (API list endpoints)."""

from django_filters import rest_framework as filters

from common.api import StrictFilterSet, view_filter
from consent.models import DataConsent, DataPolicy


class DataPolicyFilterSet(StrictFilterSet):
    name = filters.CharFilter(lookup_expr="icontains", label="Name contains")

    class Meta:
        model = DataPolicy
        fields = {
            "active": ["exact"],
            "legal_basis": ["exact"],
            "consent_level": ["exact", "gte", "lte"],
        }


class DataConsentFilterSet(StrictFilterSet):
    view = view_filter(DataConsent)

    class Meta:
        model = DataConsent
        fields = {
            "contact": ["exact"],
            "lead": ["exact"],
            "policy": ["exact"],
            "substatus": ["exact"],
            "state": ["exact"],
            "status_reason": ["exact"],
            "confidential": ["exact"],
            "consent_level": ["exact", "gte", "lte"],
            "source": ["exact"],
            "valid_until": ["gte", "lte", "isnull"],
            "given_at": ["gte", "lte"],
        }
