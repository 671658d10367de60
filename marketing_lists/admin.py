import copy

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from simple_history.admin import SimpleHistoryAdmin

from common.admin import (
    AuditedDeleteMixin,
    DataProtectionViewFilter,
    LargeTableAdminMixin,
    ServiceAdminMixin,
    ServiceModelForm,
    add_service_errors,
    bounded_count,
    format_count,
)
from common.csvutil import csv_lines
from consent.models import Channel, Purpose, Topic
from marketing_lists import audience, services
from marketing_lists.models import MarketingList, MarketingListMember

PREVIEW_ROWS = 20


class MarketingListForm(ServiceModelForm):
    class Meta:
        model = MarketingList
        fields = ["name", "list_type", "member_type", "query", "purpose", "topic", "active"]

    def validate(self, user):
        candidate = copy.copy(self.instance)
        for name, value in self.cleaned_data.items():
            setattr(candidate, name, value)
        services.marketing_list_validate(marketing_list=candidate)

    def apply(self, user):
        for name, value in self.cleaned_data.items():
            setattr(self.instance, name, value)
        return services.marketing_list_save(marketing_list=self.instance, user=user)


class AudienceForm(forms.Form):
    channel = forms.ChoiceField(choices=Channel.choices)
    purpose = forms.ModelChoiceField(Purpose.objects.select_related("profile"))
    topic = forms.ModelChoiceField(Topic.objects.filter(active=True), required=False)


class MemberInline(admin.TabularInline):
    """Static members; raw-id widgets, never a select over a million subjects."""

    model = MarketingListMember
    extra = 1
    raw_id_fields = ["account", "contact", "lead"]
    readonly_fields = ["added_at"]

    def get_fields(self, request, obj=None):
        member_type = obj.member_type if obj else "contact"
        return [member_type, "added_at"]


@admin.register(MarketingList)
class MarketingListAdmin(
    AuditedDeleteMixin, LargeTableAdminMixin, ServiceAdminMixin, SimpleHistoryAdmin
):
    form = MarketingListForm
    list_display = ["name", "list_type", "member_type", "purpose", "topic", "active"]
    list_filter = [DataProtectionViewFilter, "list_type", "member_type", "active"]
    list_select_related = ["purpose", "topic"]
    search_fields = ["name"]
    readonly_fields = ["member_preview"]

    change_form_template = "admin/marketing_lists/marketinglist_change_form.html"

    def get_urls(self):
        return [
            path(
                "<path:object_id>/audience/",
                self.admin_site.admin_view(self.audience_view),
                name="marketing_lists_marketinglist_audience",
            ),
            *super().get_urls(),
        ]

    def audience_view(self, request, object_id):
        """Counts per reason and a streamed CSV of the audience for a channel and purpose."""
        marketing_list = get_object_or_404(self.get_queryset(request), pk=object_id)
        if not self.has_view_permission(request, marketing_list):
            raise PermissionDenied
        form = AudienceForm(request.GET or None)
        summary = None
        if form.is_valid():
            data = form.cleaned_data
            try:
                # A list saved before a query rule existed may no longer validate: say so on
                # the page instead of a 500.
                services.marketing_list_validate(marketing_list=marketing_list)
                audience_request = audience.audience_request(
                    marketing_list=marketing_list,
                    channel=data["channel"],
                    purpose=data["purpose"].pk,
                    topic=data["topic"].pk if data["topic"] else None,
                )
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                if request.GET.get("format") == "csv":
                    return _csv_response(audience_request, f"audience-{marketing_list.pk}.csv")
                summary = audience.audience_summary(audience.audience_rows(audience_request))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": marketing_list,
            "title": f"Audience: {marketing_list}",
            "form": form,
            "summary": summary,
            "csv_query": request.GET.urlencode() + "&format=csv" if summary else "",
        }
        return TemplateResponse(request, "admin/marketing_lists/audience.html", context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "audience_url": reverse(
                "admin:marketing_lists_marketinglist_audience", args=[object_id]
            ),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def get_inlines(self, request, obj):
        return [MemberInline] if obj is not None and obj.is_static else []

    def get_fields(self, request, obj=None):
        fields = list(MarketingListForm._meta.fields)
        return [*fields, "member_preview"] if obj else fields

    @admin.display(description="Members (preview)")
    def member_preview(self, obj):
        try:
            members = services.marketing_list_members(obj)
        except ValidationError as exc:
            return format_html('<span class="errornote">{}</span>', " ".join(exc.messages))
        rows = members.order_by("pk")[:PREVIEW_ROWS]
        return format_html(
            "<p>{} member(s)</p><ul>{}</ul>",
            format_count(bounded_count(members)),
            format_html_join("", "<li>#{} {}</li>", ((m.pk, m) for m in rows)),
        )

    def save_formset(self, request, form, formset, change):
        """Members change through the service (history, type checks), not the formset."""
        field = form.instance.member_type
        add = [
            f.cleaned_data[field].pk
            for f in formset.extra_forms
            if f.has_changed() and f.cleaned_data.get(field)
        ]
        remove = [
            f.instance.subject_id for f in formset.initial_forms if f.cleaned_data.get("DELETE")
        ]
        services.marketing_list_members_change(
            marketing_list=form.instance, add=add, remove=remove, user=request.user
        )
        # The admin log's change message reads these; the member history has the details.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []


def _csv_response(audience_request, filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(
        csv_lines(audience.CSV_HEADER, audience.audience_csv_rows(audience_request)),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
