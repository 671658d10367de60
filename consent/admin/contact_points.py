"""Contact-point consents and suppressions in the admin."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path
from simple_history.admin import SimpleHistoryAdmin

from common.admin import (
    DataProtectionChangelistMixin,
    DateRangeFilter,
    LargeTableAdminMixin,
    ServiceAdminMixin,
    ServiceModelForm,
    add_service_errors,
)
from common.audit import Source, evidence_from
from consent.addresses import normalize_address, suppression_for
from consent.admin.consent_checks import address_check_view, may_check
from consent.models import (
    Channel,
    ContactPointConsent,
    Suppression,
)
from consent.services.contact_points import (
    contact_point_consent_set,
    contact_point_consent_validate,
    suppression_add,
    suppression_remove,
)

KEY_FIELDS = ("channel", "value", "purpose", "topic")


class ContactPointConsentForm(ServiceModelForm):
    class Meta:
        model = ContactPointConsent
        fields = [
            "channel",
            "value",
            "purpose",
            "topic",
            "status",
            "reason",
            "reason_description",
            "requested_by",
            "expires_at",
        ]

    def _arguments(self, user) -> dict:
        # On the change page the key (channel, value, purpose, topic) is read-only, so not in
        # cleaned_data: it comes from the record being changed.
        key = {name: getattr(self.instance, name) for name in KEY_FIELDS if self.instance.pk}
        evidence, data = evidence_from(self.cleaned_data, actor=user, source=Source.INTERNAL)
        return {**key, **data, "evidence": evidence}

    def validate(self, user):
        contact_point_consent_validate(**self._arguments(user))

    def apply(self, user):
        record, _, _ = contact_point_consent_set(**self._arguments(user))
        return record


@admin.register(ContactPointConsent)
class ContactPointConsentAdmin(
    DataProtectionChangelistMixin, LargeTableAdminMixin, ServiceAdminMixin, SimpleHistoryAdmin
):
    form = ContactPointConsentForm
    list_display = ["value", "channel", "purpose", "topic", "status", "source", "captured_at"]
    list_filter = ["channel", "status", "source", "purpose", ("captured_at", DateRangeFilter)]
    list_select_related = ["purpose", "topic"]
    search_fields = ["value"]  # shows the box; get_search_results decides
    search_help_text = "An exact e-mail address, phone number or custom id."
    export_fields = [
        ("ID", "id"),
        ("Channel", "channel"),
        ("Address", "value"),
        ("Purpose", "purpose__name"),
        ("Topic", "topic__name"),
        ("Status", "status"),
        ("Source", "source"),
        ("Reason", "reason"),
        ("Requested by", "requested_by"),
        ("Captured at", "captured_at"),
        ("Notice version", "notice_version"),
        ("Expires at", "expires_at"),
    ]
    readonly_fields = [
        "source",
        "captured_by",
        "captured_at",
        "ip_address",
        "user_agent",
        "notice_version",
    ]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return self.readonly_fields
        # The key of a record never changes: another address is another record.
        return [*self.readonly_fields, *KEY_FIELDS]

    def get_search_results(self, request, queryset, search_term):
        """Exact addresses only, in their stored form per channel (the (channel, value) index)."""
        term = search_term.strip()
        if not term:
            return queryset, False
        match = Q()
        for channel in Channel.values:
            try:
                match |= Q(channel=channel, value=normalize_address(channel, term))
            except ValidationError:
                continue
        return (queryset.filter(match) if match else queryset.none()), False

    def has_delete_permission(self, request, obj=None):
        return False

    change_list_template = "admin/consent/contactpointconsent/change_list.html"

    def get_urls(self):
        return [
            path(
                "check/",
                self.admin_site.admin_view(lambda request: address_check_view(self, request)),
                name="consent_contactpointconsent_check",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "may_check": may_check(request)}
        return super().changelist_view(request, extra_context)


class SuppressionForm(forms.Form):
    channel = forms.ChoiceField(choices=Channel.choices)
    value = forms.CharField(max_length=254, label="Address")
    reason = forms.CharField(max_length=200, required=True)


class SuppressionLookupForm(forms.Form):
    channel = forms.ChoiceField(choices=Channel.choices)
    value = forms.CharField(max_length=254, label="Address")


@admin.register(Suppression)
class SuppressionAdmin(LargeTableAdminMixin, SimpleHistoryAdmin):
    """Only keyed hashes are stored; an address is typed in to suppress or un-suppress it."""

    list_display = ["channel", "value_hash", "created_at", "reason"]
    list_filter = ["channel"]
    change_list_template = "admin/consent/suppression/change_list.html"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        return [
            path(
                "suppress/",
                self.admin_site.admin_view(self.suppress_view),
                name="consent_suppression_suppress",
            ),
            path(
                "lookup/",
                self.admin_site.admin_view(self.lookup_view),
                name="consent_suppression_lookup",
            ),
            path(
                "unsuppress/",
                self.admin_site.admin_view(self.unsuppress_view),
                name="consent_suppression_unsuppress",
            ),
            *super().get_urls(),
        ]

    def suppress_view(self, request):
        if not request.user.has_perm("consent.add_suppression"):
            raise PermissionDenied
        return self._address_form_view(
            request,
            "Suppress an address",
            lambda data: suppression_add(**data, user=request.user),
        )

    def unsuppress_view(self, request):
        if not request.user.has_perm("consent.unsuppress"):
            raise PermissionDenied
        return self._address_form_view(
            request,
            "Allow a suppressed address again (audited)",
            lambda data: suppression_remove(**data, user=request.user),
        )

    def lookup_view(self, request):
        """ "Suppressed?": the answer for one typed address, without listing any hash."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = SuppressionLookupForm(request.GET or None)
        answer = None
        if form.is_bound and form.is_valid():
            channel, value = form.cleaned_data["channel"], form.cleaned_data["value"]
            try:
                suppression = suppression_for(channel, normalize_address(channel, value))
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                answer = {"suppressed": suppression is not None, "suppression": suppression}
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Is an address suppressed?",
            "form": form,
            "answer": answer,
        }
        return TemplateResponse(request, "admin/consent/suppression/lookup.html", context)

    def _address_form_view(self, request, title, run):
        form = SuppressionForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                run(form.cleaned_data)
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                self.message_user(request, f"{title}: done.", messages.SUCCESS)
                return redirect("admin:consent_suppression_changelist")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": title,
            "form": form,
        }
        return TemplateResponse(request, "admin/consent/suppression/address_form.html", context)
