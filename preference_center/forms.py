"""The public forms. They only check the input; the views call the services."""

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from consent.addresses import normalize_address
from consent.models import Channel


class AddressForm(forms.Form):
    email = forms.EmailField(
        label=_("Email address"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autocapitalize": "none"}),
    )

    def clean_email(self) -> str:
        try:
            return normalize_address(Channel.EMAIL, self.cleaned_data["email"])
        except ValidationError:
            raise ValidationError(_("Enter a valid email address."), code="invalid") from None


class LinkRequestForm(AddressForm):
    pass


class SignUpForm(AddressForm):
    """Address plus the ticked purposes (`purpose`) and topics (`topic`), by id."""

    def __init__(self, *args, purpose_ids=(), topic_ids=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["purpose"] = forms.TypedMultipleChoiceField(
            choices=[(pk, pk) for pk in purpose_ids], coerce=int, required=False
        )
        self.fields["topic"] = forms.TypedMultipleChoiceField(
            choices=[(pk, pk) for pk in topic_ids], coerce=int, required=False
        )

    def clean(self):
        cleaned = super().clean()
        if not (cleaned.get("purpose") or cleaned.get("topic")):
            raise ValidationError(_("Choose at least one subscription."), code="required")
        return cleaned

    def choice_errors(self) -> list[str]:
        """Errors about the ticked subscriptions, shown in their fieldset."""
        return [*self.non_field_errors(), *self["purpose"].errors, *self["topic"].errors]
