"""Notices (DESIGN §3.9): drafts edited and published here; a published notice is read-only
(title and URL aside) and never deleted. Also the DPO page "Consents given under an older
notice": the re-consent candidates of a profile or a data policy, by address, with CSV."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import path
from simple_history.admin import SimpleHistoryAdmin

from common.admin import ServiceAdminMixin, ServiceModelForm
from common.audit import Source
from common.csvutil import csv_lines
from consent.models import ComplianceProfile, DataPolicy, Notice, Purpose
from consent.reports.reconsent import (
    contact_point_row,
    data_consent_row,
    latest_material_notice,
    outdated_data_consents,
    outdated_opt_ins,
    reconsent_csv_rows,
)
from consent.services.notices import (
    EDITABLE_WHEN_PUBLISHED,
    NOTICE_FIELDS,
    notice_create,
    notice_delete,
    notice_publish,
    notice_update,
    notice_validate,
)

RECONSENT_TITLE = "Consents given under an older notice"
RECONSENT_PAGE_SIZE = 100


class NoticeForm(ServiceModelForm):
    class Meta:
        model = Notice
        fields = list(NOTICE_FIELDS)

    def _data(self) -> dict:
        changed = self.changed_data if self.instance.pk else NOTICE_FIELDS
        return {name: self.cleaned_data[name] for name in changed if name in self.cleaned_data}

    def validate(self, user):
        notice_validate(self.instance, self._data())

    def apply(self, user):
        if self.instance.pk is None:
            data = {name: self.cleaned_data[name] for name in NOTICE_FIELDS}
            return notice_create(data=data, user=user, source=Source.INTERNAL)
        data = {name: self.cleaned_data[name] for name in self.changed_data}
        return notice_update(self.instance, data=data, user=user, source=Source.INTERNAL)


@admin.register(Notice)
class NoticeAdmin(ServiceAdminMixin, SimpleHistoryAdmin):
    form = NoticeForm
    list_display = ["title", "owner_name", "version", "language", "material", "published_at"]
    list_filter = ["material", "language", "profile", "policy"]
    list_select_related = ["profile", "policy"]
    search_fields = ["title", "version"]
    actions = ["publish_selected"]

    @admin.display(description="Profile or policy")
    def owner_name(self, obj):
        return str(obj.owner)

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.is_published:
            return [name for name in NOTICE_FIELDS if name not in EDITABLE_WHEN_PUBLISHED] + [
                "published_at"
            ]
        return ["published_at"]

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.is_published:
            return False
        return super().has_delete_permission(request, obj)

    def delete_model(self, request, obj):
        notice_delete(obj, user=request.user, source=Source.INTERNAL)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)

    @admin.action(description="Publish the selected drafts", permissions=["change"])
    def publish_selected(self, request, queryset):
        published = 0
        for notice in queryset.filter(published_at__isnull=True).order_by("id"):
            notice_publish(notice, user=request.user, source=Source.INTERNAL)
            published += 1
        self.message_user(
            request,
            f"{published} notice(s) published: their profiles and policies record the new "
            "version from now on.",
            messages.SUCCESS,
        )

    def get_urls(self):
        return [
            path(
                "reconsent/",
                self.admin_site.admin_view(self.reconsent_view),
                name="consent_notice_reconsent",
            ),
            *super().get_urls(),
        ]

    def reconsent_view(self, request):
        """The DPO page: outdated opt-ins of a profile, or outdated consents of a policy."""
        if not request.user.has_perm("consent.view_contactpointconsent"):
            raise PermissionDenied
        form = ReconsentForm(request.GET or None)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": RECONSENT_TITLE,
            "form": form,
        }
        if form.is_bound and form.is_valid():
            profile, policy = form.cleaned_data["profile"], form.cleaned_data["policy"]
            purpose = form.cleaned_data["purpose"]
            if policy is not None and not request.user.has_perm("consent.view_dataconsent"):
                raise PermissionDenied
            if request.GET.get("format") == "csv":
                return _csv(profile, purpose, policy, request.user)
            if profile is not None:
                queryset, to_row, owner = (
                    outdated_opt_ins(profile, purpose=purpose),
                    contact_point_row,
                    profile,
                )
            else:
                queryset = outdated_data_consents(policy, user=request.user)
                to_row, owner = data_consent_row, policy
            page = Paginator(queryset, RECONSENT_PAGE_SIZE).get_page(request.GET.get("page"))
            context.update(
                owner=owner,
                profile=profile,
                purpose=purpose,
                material=latest_material_notice(profile=profile, policy=policy),
                page=page,
                rows=[to_row(item, owner.notice_version) for item in page],
                query=_query_without(request.GET, "page", "format"),
                can_make_list=profile is not None
                and request.user.has_perm("marketing_lists.add_marketinglist"),
            )
        return TemplateResponse(request, "admin/consent/notice/reconsent.html", context)


class ReconsentForm(forms.Form):
    profile = forms.ModelChoiceField(ComplianceProfile.objects.all(), required=False)
    purpose = forms.ModelChoiceField(
        Purpose.objects.select_related("profile"), required=False, help_text="Optional."
    )
    policy = forms.ModelChoiceField(DataPolicy.objects.all(), required=False)

    def clean(self):
        data = super().clean()
        profile, policy = data.get("profile"), data.get("policy")
        if (profile is None) == (policy is None):
            raise ValidationError("Choose a compliance profile (opt-ins) or a data policy.")
        purpose = data.get("purpose")
        if purpose is not None and (profile is None or purpose.profile_id != profile.pk):
            self.add_error("purpose", "Choose a purpose of the chosen profile.")
        return data


def _query_without(params, *names) -> str:
    params = params.copy()
    for name in names:
        params.pop(name, None)
    return params.urlencode()


def _csv(profile, purpose, policy, user):
    header, rows = reconsent_csv_rows(profile=profile, purpose=purpose, policy=policy, user=user)
    response = StreamingHttpResponse(csv_lines(header, rows), content_type="text/csv")
    response["Content-Disposition"] = 'attachment; filename="consents-older-notice.csv"'
    return response
