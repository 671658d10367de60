"""Field filters of accounts, leads and contacts.

Used by the API list endpoints and by dynamic marketing lists, whose `query` is a query string
over these FilterSets (e.g. `account=3&allow_bulk_email=true`). Invalid values and unknown
parameters are errors, never ignored (see common.api.StrictFilterSet).
"""

from django import forms
from django_filters import rest_framework as filters

from common.api import BooleanFilter, StrictFilterSet, view_filter
from subjects.models import PREFERENCE_FIELDS, Account, Contact, Lead
from subjects.normalize import normalize_email, normalize_phone


class NormalizedCharField(forms.CharField):
    """A filter value normalized like the stored one, so it matches what was saved."""

    def __init__(self, *args, normalize, **kwargs):
        self.normalize = normalize
        super().__init__(*args, **kwargs)

    def clean(self, value):
        value = super().clean(value)
        return self.normalize(value) if value else value


class EmailFilter(filters.CharFilter):
    """Exact email, compared case-insensitively (`with_email`)."""

    field_class = NormalizedCharField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("method", lambda queryset, name, value: queryset.with_email(value))
        super().__init__(*args, normalize=normalize_email, **kwargs)


class PhoneFilter(filters.CharFilter):
    """Exact phone number, in any format the phone field accepts (compared in E.164)."""

    field_class = NormalizedCharField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("method", lambda queryset, name, value: queryset.with_phone(value))
        super().__init__(*args, normalize=normalize_phone, **kwargs)


class AccountFilterSet(StrictFilterSet):
    name = filters.CharFilter(lookup_expr="icontains", label="Name contains")

    class Meta:
        model = Account
        fields = ["name", "processes_data"]


SUBJECT_FILTER_FIELDS = {
    **{name: ["exact"] for name in PREFERENCE_FIELDS},
    "restricted": ["exact"],
    "inherent_basis": ["exact"],
    "data_protection_consent": ["exact"],
    "consent_level": ["exact", "gte", "lte"],
    "max_expiry_date": ["exact", "gte", "lte", "isnull"],
    "created_at": ["gte", "lte"],
}


class SubjectFilterSet(StrictFilterSet):
    email = EmailFilter(label="Email (exact, case-insensitive)")
    phone = PhoneFilter(label="Phone (exact, compared in E.164)")
    last_name = filters.CharFilter(lookup_expr="istartswith", label="Last name starts with")
    anonymized = BooleanFilter(
        field_name="anonymized_at", lookup_expr="isnull", exclude=True, label="Anonymized"
    )


class LeadFilterSet(SubjectFilterSet):
    view = view_filter(Lead)
    company_name = filters.CharFilter(lookup_expr="icontains", label="Company name contains")

    class Meta:
        model = Lead
        fields = {
            **SUBJECT_FILTER_FIELDS,
            "status": ["exact"],
            "source": ["exact"],
            "converted_contact": ["exact", "isnull"],
        }


class ContactFilterSet(SubjectFilterSet):
    view = view_filter(Contact)

    class Meta:
        model = Contact
        fields = {
            **SUBJECT_FILTER_FIELDS,
            "state": ["exact"],
            "account": ["exact", "isnull"],
            "account__processes_data": ["exact"],
        }
