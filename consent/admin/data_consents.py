"""Data consents and their substatuses in the admin; confidentiality applied everywhere."""

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.urls import reverse
from django.utils.html import format_html
from simple_history.admin import SimpleHistoryAdmin

from common.admin import (
    DataProtectionViewFilter,
    LargeTableAdminMixin,
    ServiceAdminMixin,
)
from consent.admin.bulk_actions import run_as_job
from consent.forms import (
    DataConsentAddForm,
    DataConsentChangeForm,
)
from consent.models import ConsentLevelSubstatus, DataConsent
from consent.services.data_consents import (
    CONSENT_EDITABLE_FIELDS,
    data_consent_cancel,
    data_consent_reactivate,
)


class DataConsentInline(admin.TabularInline):
    model = DataConsent
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True
    fields = readonly_fields = [
        "policy",
        "consent_level",
        "state",
        "status_reason",
        "given_at",
        "valid_until",
        "confidential",
        "source",
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("policy").visible_to(request.user)


@admin.register(DataConsent)
class DataConsentAdmin(LargeTableAdminMixin, ServiceAdminMixin, SimpleHistoryAdmin):
    list_display = [
        "id",
        "subject_link",
        "policy",
        "consent_level",
        "state",
        "status_reason",
        "given_at",
        "valid_until",
        "confidential",
    ]
    list_filter = [
        DataProtectionViewFilter,
        "state",
        "status_reason",
        "consent_level",
        "confidential",
    ]
    list_select_related = ["policy", "lead", "contact"]
    raw_id_fields = ["lead", "contact", "owner_user"]
    date_hierarchy = None
    actions = ["cancel_selected", "reactivate_selected"]
    readonly_fields = [
        "lead",
        "contact",
        "policy",
        "consent_level",
        "state",
        "status_reason",
        "given_at",
        "source",
        "captured_by",
        "ip_address",
        "user_agent",
        "notice_version",
        "created_at",
        "updated_at",
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).visible_to(request.user)

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = DataConsentChangeForm if obj else DataConsentAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj else ["consent_level", "state", "status_reason"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return list(DataConsentAddForm._meta.fields)
        return [
            *self.readonly_fields[:7],
            *CONSENT_EDITABLE_FIELDS,
            *self.readonly_fields[7:],
        ]

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.status_reason in (
            DataConsent.Reason.EXPIRED,
            DataConsent.Reason.ANONYMIZED,
        ):
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False  # never hard-deleted

    def has_cancel_permission(self, request, obj=None):
        return request.user.has_perm("consent.cancel_dataconsent")

    def history_view(self, request, object_id, extra_context=None):
        # simple-history falls back to the history rows when get_queryset hides the object;
        # that would leak a confidential consent, so visibility is checked first.
        if not self.get_queryset(request).filter(pk=object_id).exists():
            raise Http404
        return super().history_view(request, object_id, extra_context)

    @admin.display(description="Subject")
    def subject_link(self, obj):
        subject = obj.contact or obj.lead
        opts = subject._meta
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[subject.pk])
        return format_html('<a href="{}">{} ({})</a>', url, subject, opts.verbose_name)

    def _run(self, request, queryset, service, label):
        done = 0
        for consent in queryset:
            try:
                service(consent=consent, user=request.user)
                done += 1
            except ValidationError as exc:
                self.message_user(request, f"#{consent.pk}: {exc.messages[0]}", messages.ERROR)
        if done:
            self.message_user(request, f"{label}: {done} consent(s).", messages.SUCCESS)

    @admin.action(description="Cancel selected data consents", permissions=["cancel"])
    def cancel_selected(self, request, queryset):
        if not run_as_job(self, request, queryset, "dataconsent.cancel"):
            self._run(request, queryset, data_consent_cancel, "Cancelled")

    @admin.action(description="Reactivate selected cancelled data consents", permissions=["cancel"])
    def reactivate_selected(self, request, queryset):
        if not run_as_job(self, request, queryset, "dataconsent.reactivate"):
            self._run(request, queryset, data_consent_reactivate, "Reactivated")


@admin.register(ConsentLevelSubstatus)
class ConsentLevelSubstatusAdmin(admin.ModelAdmin):
    list_display = ["name", "level"]
    list_filter = ["level"]
