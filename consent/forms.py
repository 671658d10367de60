from django import forms
from django.core.exceptions import ValidationError

from common.admin import ServiceModelForm
from consent import services
from consent.models import DataConsent
from subjects.models import Contact, Lead
from subjects.normalize import normalize_email, normalize_phone
from subjects.services import editable_fields, subject_create


def _normalized(normalize, value):
    if not value:
        return None
    return normalize(value)


class SubjectForm(ServiceModelForm):
    """Lead / contact create and edit through the services (derived fields recomputed)."""

    def clean_email(self):
        return _normalized(normalize_email, self.cleaned_data.get("email"))

    def clean_phone(self):
        return _normalized(normalize_phone, self.cleaned_data.get("phone"))

    def apply(self, user):
        model = self._meta.model
        if self.instance.pk is None:
            return subject_create(model=model, data=dict(self.cleaned_data), user=user)
        data = {name: self.cleaned_data[name] for name in self.changed_data}
        return services.subject_update(subject=self.instance, data=data, user=user)


class LeadForm(SubjectForm):
    class Meta:
        model = Lead
        fields = list(editable_fields(Lead))


class ContactForm(SubjectForm):
    class Meta:
        model = Contact
        fields = list(editable_fields(Contact))


class DataConsentAddForm(ServiceModelForm):
    class Meta:
        model = DataConsent
        fields = [
            "lead",
            "contact",
            "policy",
            "substatus",
            "given_at",
            "valid_until",
            "confidential",
            "owner_user",
            "owner_team",
            "source",
            "note",
            "ip_address",
            "user_agent",
            "notice_version",
        ]

    def apply(self, user):
        data = dict(self.cleaned_data)
        data["notice_version"] = data["notice_version"] or None
        return services.data_consent_create(**data, user=user)


class DataConsentChangeForm(ServiceModelForm):
    class Meta:
        model = DataConsent
        fields = list(services.CONSENT_EDITABLE_FIELDS)

    def apply(self, user):
        return services.data_consent_update(
            consent=self.instance, data=dict(self.cleaned_data), user=user
        )


class SubjectActionForm(forms.Form):
    """Confirmation of a lifecycle action on the subject page (POST only)."""

    confirm = forms.BooleanField(required=True, initial=True, widget=forms.HiddenInput)

    def clean(self):
        if not self.cleaned_data.get("confirm"):
            raise ValidationError("Please confirm.")
        return self.cleaned_data
