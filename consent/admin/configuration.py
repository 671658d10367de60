"""Configuration pages: compliance profiles (with purposes and topics), purposes, topics and data
policies. Every save and delete goes through `consent.services.configuration`.
"""

from django.contrib import admin
from modeltranslation.admin import TranslationAdmin, TranslationTabularInline
from simple_history.admin import SimpleHistoryAdmin

from common.admin import (
    AuditedAdminMixin,
    ServiceAdminMixin,
    ServiceModelForm,
)
from common.audit import Source
from consent.models import (
    ComplianceProfile,
    DataPolicy,
    Purpose,
    Topic,
)
from consent.services.configuration import (
    compliance_profile_save,
    compliance_profile_validate,
    configuration_delete,
    configuration_delete_refusal,
    configuration_save,
    configuration_validate,
)


# Inlines edit the English base text; the translations are on each purpose's and topic's page.
class PurposeInline(TranslationTabularInline):
    model = Purpose
    extra = 0
    fields = ["name_en", "kind", "consent_model", "required_level", "require_current_notice"]
    show_change_link = True


class TopicInline(TranslationTabularInline):
    model = Topic
    extra = 0
    fields = ["name_en", "description_en", "active"]
    show_change_link = True


class ComplianceProfileForm(ServiceModelForm):
    """Saved by `compliance_profile_save`: making this profile the default unsets the previous
    one (with its history row) instead of failing on the one-default constraint."""

    class Meta:
        model = ComplianceProfile
        fields = "__all__"

    def _data(self) -> dict:
        changed = self.changed_data if self.instance.pk else self.cleaned_data
        return {name: self.cleaned_data[name] for name in changed}

    def validate(self, user):
        compliance_profile_validate(self.instance, self._data())

    def apply(self, user):
        return compliance_profile_save(
            self.instance, self._data(), user=user, source=Source.INTERNAL
        )


class ConfigurationForm(ServiceModelForm):
    """Purposes and topics: validated and saved by `configuration_save` (a purpose never moves to
    another profile, nor a topic to another purpose)."""

    def _data(self) -> dict:
        changed = self.changed_data if self.instance.pk else self.cleaned_data
        return {name: self.cleaned_data[name] for name in changed}

    def validate(self, user):
        configuration_validate(self.instance, self._data())

    def apply(self, user):
        return configuration_save(self.instance, self._data(), user=user, source=Source.INTERNAL)


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
            refusal for obj in objs if (refusal := configuration_delete_refusal(obj)) is not None
        ]
        if refusals:
            return [], {}, set(), refusals
        return super().get_deleted_objects(objs, request)

    def delete_model(self, request, obj):
        configuration_delete(obj, user=request.user, source=Source.INTERNAL)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)


@admin.register(ComplianceProfile)
class ComplianceProfileAdmin(
    ServiceAdminMixin, ConfigurationAdminMixin, TranslationAdmin, SimpleHistoryAdmin
):
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
class PurposeAdmin(
    ServiceAdminMixin, ConfigurationAdminMixin, TranslationAdmin, SimpleHistoryAdmin
):
    form = ConfigurationForm
    list_display = ["name", "profile", "kind", "consent_model", "required_level"]
    list_filter = ["profile", "kind", "consent_model"]
    list_select_related = ["profile"]
    inlines = [TopicInline]


@admin.register(Topic)
class TopicAdmin(ServiceAdminMixin, ConfigurationAdminMixin, TranslationAdmin, SimpleHistoryAdmin):
    form = ConfigurationForm
    list_display = ["name", "purpose", "active"]
    list_filter = ["active", "purpose"]
    list_select_related = ["purpose"]
    search_fields = ["name"]


@admin.register(DataPolicy)
class DataPolicyAdmin(AuditedAdminMixin, SimpleHistoryAdmin):
    list_display = [
        "name",
        "consent_level",
        "validity_days",
        "legal_basis",
        "notice_version",
        "active",
    ]
    list_filter = ["active", "legal_basis", "consent_level"]
    search_fields = ["name"]

    def has_delete_permission(self, request, obj=None):
        return False
