from django import forms

from common.admin import ServiceModelForm
from common.audit import Evidence, Source, evidence_from
from consent.models import Channel, ContactPointConsent, DataConsent, Purpose, Topic
from consent.reports.consent_center import subject_addresses
from consent.services.contact_points import contact_point_consent_set
from consent.services.data_consents import (
    CONSENT_EDITABLE_FIELDS,
    data_consent_create,
    data_consent_create_validate,
    data_consent_update,
    data_consent_update_validate,
)
from consent.services.subjects import subject_update
from subjects.models import Contact, Lead
from subjects.normalize import normalize_email, normalize_phone
from subjects.services import editable_fields, subject_create, subject_validate


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

    def _data(self) -> dict:
        if self.instance.pk is None:
            return dict(self.cleaned_data)
        return {name: self.cleaned_data[name] for name in self.changed_data}

    def validate(self, user):
        subject = self.instance if self.instance.pk else None
        subject_validate(model=self._meta.model, subject=subject, data=self._data(), user=user)

    def apply(self, user):
        if self.instance.pk is None:
            return subject_create(model=self._meta.model, data=self._data(), user=user)
        return subject_update(subject=self.instance, data=self._data(), user=user)


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

    def _arguments(self, user) -> dict:
        evidence, data = evidence_from(self.cleaned_data, actor=user)
        evidence = evidence.replace(notice_version=evidence.notice_version or None)
        return {**data, "evidence": evidence}

    def validate(self, user):
        data_consent_create_validate(**self._arguments(user))

    def apply(self, user):
        return data_consent_create(**self._arguments(user))


class DataConsentChangeForm(ServiceModelForm):
    class Meta:
        model = DataConsent
        fields = list(CONSENT_EDITABLE_FIELDS)

    def validate(self, user):
        data_consent_update_validate(consent=self.instance, data=dict(self.cleaned_data))

    def apply(self, user):
        return data_consent_update(consent=self.instance, data=dict(self.cleaned_data), user=user)


class VerbalConsentForm(forms.Form):
    """Consent given or withdrawn by phone, at the counter or at an event (DESIGN §3.7)."""

    address = forms.ChoiceField(help_text="Which of the subject's addresses, on which channel.")
    purpose = forms.ModelChoiceField(Purpose.objects.select_related("profile"))
    topic = forms.ModelChoiceField(
        Topic.objects.filter(active=True), required=False, help_text="Empty: the whole purpose."
    )
    status = forms.ChoiceField(
        choices=[
            (ContactPointConsent.Status.OPTED_IN, "Opted in"),
            (ContactPointConsent.Status.OPTED_OUT, "Opted out"),
        ]
    )
    requested_by = forms.CharField(max_length=200, help_text='Who asked, e.g. "customer by phone".')
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args, subject, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["address"].choices = [
            (f"{channel}|{value}", f"{channel}: {value}")
            for channel, value in subject_addresses(subject)
        ]

    def clean(self):
        data = super().clean()
        topic, purpose = data.get("topic"), data.get("purpose")
        if topic and purpose and topic.purpose_id != purpose.pk:
            self.add_error("topic", "This topic belongs to another purpose.")
        return data

    def record(self, user):
        data = self.cleaned_data
        channel, value = data["address"].split("|", 1)
        return contact_point_consent_set(
            channel=channel,
            value=value,
            purpose=data["purpose"],
            topic=data["topic"],
            status=data["status"],
            evidence=Evidence(
                source=Source.VERBAL,
                reason=data["note"][:200],
                description=data["note"],
                requested_by=data["requested_by"],
                actor=user,
            ),
        )


class AsOfField(forms.DateTimeField):
    """An instant in the site's time zone, typed in the browser's date-time picker."""

    widget = forms.DateTimeInput(attrs={"type": "datetime-local", "step": "1"})
    input_formats = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"]


class AddressCheckForm(forms.Form):
    """Any address, a purpose and topic, and optionally a past instant (the decision as of)."""

    channel = forms.ChoiceField(choices=Channel.choices)
    value = forms.CharField(label="Address", max_length=254)
    purpose = forms.ModelChoiceField(Purpose.objects.select_related("profile"))
    topic = forms.ModelChoiceField(
        Topic.objects.select_related("purpose"), required=False, help_text="Optional."
    )
    as_of = AsOfField(
        label="As of", required=False, help_text="Optional: a past instant (site time zone)."
    )


class CheckAsOfForm(forms.Form):
    """The instant a subject's consent center is replayed at."""

    as_of = AsOfField(label="As of", help_text="A past instant (site time zone).")
