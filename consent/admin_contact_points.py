"""Admin for compliance profiles, purposes, topics, contact-point consents and suppressions.

Contact-point consents change only through `contact_point_consent_set` (source `internal`),
so every change keeps its previous state in the history.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path
from simple_history.admin import SimpleHistoryAdmin

from common.admin import (
    LargeTableAdminMixin,
    ServiceAdminMixin,
    ServiceModelForm,
    add_service_errors,
)
from consent import contact_points
from consent.models import (
    Channel,
    ComplianceProfile,
    ContactPointConsent,
    Purpose,
    Suppression,
    Topic,
)
from subjects.admin_audit import AuditedAdminMixin
from subjects.audit import Source


class PurposeInline(admin.TabularInline):
    model = Purpose
    extra = 0
    fields = ["name", "kind", "consent_model", "required_level"]
    show_change_link = True


class TopicInline(admin.TabularInline):
    model = Topic
    extra = 0
    fields = ["name", "description", "active"]


class ComplianceProfileForm(ServiceModelForm):
    """Saved by `compliance_profile_save`: making this profile the default unsets the previous
    one (with its history row) instead of failing on the one-default constraint."""

    class Meta:
        model = ComplianceProfile
        fields = "__all__"

    def apply(self, user):
        changed = self.changed_data if self.instance.pk else self.cleaned_data
        data = {name: self.cleaned_data[name] for name in changed}
        return contact_points.compliance_profile_save(
            self.instance, data, user=user, source=Source.INTERNAL
        )


class ConfigurationAdminMixin(AuditedAdminMixin):
    """Profiles, purposes and topics are deleted through `configuration_delete`: never the default
    profile, never anything still in use — checked with existence queries, not by loading every
    protected row (millions of consent records) the way the admin's delete page would."""

    def has_delete_permission(self, request, obj=None):
        if isinstance(obj, ComplianceProfile) and obj.is_default:
            return False
        return super().has_delete_permission(request, obj)

    def get_deleted_objects(self, objs, request):
        refusals = [
            refusal
            for obj in objs
            if (refusal := contact_points.configuration_delete_refusal(obj)) is not None
        ]
        if refusals:
            return [], {}, set(), refusals
        return super().get_deleted_objects(objs, request)

    def delete_model(self, request, obj):
        contact_points.configuration_delete(obj, user=request.user, source=Source.INTERNAL)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)


@admin.register(ComplianceProfile)
class ComplianceProfileAdmin(ServiceAdminMixin, ConfigurationAdminMixin, SimpleHistoryAdmin):
    form = ComplianceProfileForm
    list_display = [
        "name",
        "slug",
        "is_default",
        "check_subject_consent",
        "double_opt_in",
        "unsubscribe_scope",
        "data_policy",
    ]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [PurposeInline]


@admin.register(Purpose)
class PurposeAdmin(ConfigurationAdminMixin, SimpleHistoryAdmin):
    list_display = ["name", "profile", "kind", "consent_model", "required_level"]
    list_filter = ["profile", "kind", "consent_model"]
    list_select_related = ["profile"]
    inlines = [TopicInline]


@admin.register(Topic)
class TopicAdmin(ConfigurationAdminMixin, SimpleHistoryAdmin):
    list_display = ["name", "purpose", "active"]
    list_filter = ["active", "purpose"]
    list_select_related = ["purpose"]
    search_fields = ["name"]


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

    def apply(self, user):
        # On the change page the key (channel, value, purpose, topic) is read-only, so not in
        # cleaned_data: it comes from the record being changed.
        key = {name: getattr(self.instance, name) for name in KEY_FIELDS if self.instance.pk}
        record, _, _ = contact_points.contact_point_consent_set(
            **key, **self.cleaned_data, source=Source.INTERNAL, user=user
        )
        return record


@admin.register(ContactPointConsent)
class ContactPointConsentAdmin(LargeTableAdminMixin, ServiceAdminMixin, SimpleHistoryAdmin):
    form = ContactPointConsentForm
    list_display = ["value", "channel", "purpose", "topic", "status", "source", "captured_at"]
    list_filter = ["channel", "status", "source", "purpose"]
    list_select_related = ["purpose", "topic"]
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
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(value=term.lower()) | queryset.filter(value=term), False

    def has_delete_permission(self, request, obj=None):
        return False


class SuppressionForm(forms.Form):
    channel = forms.ChoiceField(choices=Channel.choices)
    value = forms.CharField(max_length=254, label="Address")
    reason = forms.CharField(max_length=200, required=True)


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
            lambda data: contact_points.suppression_add(**data, user=request.user),
        )

    def unsuppress_view(self, request):
        if not request.user.has_perm("consent.unsuppress"):
            raise PermissionDenied
        return self._address_form_view(
            request,
            "Allow a suppressed address again (audited)",
            lambda data: contact_points.suppression_remove(**data, user=request.user),
        )

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
