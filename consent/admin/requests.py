"""Data subject requests in the admin (DESIGN §3.11): the DPO views "Open requests", "Requests
due within 7 days" and "Overdue requests", and on a request's page the buttons that answer it:
complete (an access request keeps the report as sent; an erasure request anonymizes the
subject), refuse (with the reason) and extend the deadline (with the reason)."""

import copy

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from simple_history.admin import SimpleHistoryAdmin

from common.admin import (
    DataProtectionViewFilter,
    ServiceAdminMixin,
    ServiceModelForm,
    add_service_errors,
)
from common.audit import Source
from consent.admin.subjects import pdf_response
from consent.models import DataSubjectRequest
from consent.reports.access_report import report_visible_to, subject_access_report
from consent.services.requests import (
    UPDATABLE_FIELDS,
    data_subject_request_complete,
    data_subject_request_create,
    data_subject_request_delete,
    data_subject_request_extend,
    data_subject_request_refuse,
    data_subject_request_update,
)

Kind = DataSubjectRequest.Kind


FORM_MODEL_FIELDS = {field.name for field in DataSubjectRequest._meta.fields}


class DataSubjectRequestForm(ServiceModelForm):
    class Meta:
        model = DataSubjectRequest
        fields = ["kind", "lead", "contact", "requester", "received_at", "handled_by", "notes"]

    def validate(self, user) -> None:
        """The model's own checks on a copy with the form's values: nothing is written."""
        candidate = copy.copy(self.instance)
        for name, value in self.cleaned_data.items():
            if name in FORM_MODEL_FIELDS:
                setattr(candidate, name, value)
        fields = DataSubjectRequest._meta.fields
        others = [f.name for f in fields if f.name not in self.cleaned_data]
        candidate.full_clean(exclude=others, validate_unique=False)

    def apply(self, user):
        if self.instance.pk is None:
            return data_subject_request_create(**self.cleaned_data, user=user)
        data = {
            name: self.cleaned_data[name] for name in self.changed_data if name in UPDATABLE_FIELDS
        }
        return data_subject_request_update(request=self.instance, data=data, user=user)


class StatusForm(DataSubjectRequestForm):
    status = forms.ChoiceField(
        choices=[
            (DataSubjectRequest.Status.OPEN, "Open"),
            (DataSubjectRequest.Status.IN_PROGRESS, "In progress"),
        ]
    )

    class Meta(DataSubjectRequestForm.Meta):
        fields = ["kind", "lead", "contact", "requester", "handled_by", "notes", "status"]


class CompleteForm(forms.Form):
    outcome = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        help_text="What was done (kept with the request).",
    )


class RefuseForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), help_text="What the person is told, and why."
    )


class ExtendForm(forms.Form):
    due_at = forms.SplitDateTimeField(
        label="New deadline", widget=admin.widgets.AdminSplitDateTime()
    )
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Why more time is needed (Art. 12(3): the person is told within the month).",
    )


ACTIONS = {
    "complete": ("Complete", CompleteForm),
    "refuse": ("Refuse", RefuseForm),
    "extend": ("Extend the deadline", ExtendForm),
}


@admin.register(DataSubjectRequest)
class DataSubjectRequestAdmin(ServiceAdminMixin, SimpleHistoryAdmin):
    change_form_template = "admin/consent/datasubjectrequest/change_form.html"
    list_display = [
        "id",
        "kind",
        "subject_link",
        "requester",
        "received_at",
        "due",
        "status",
        "handled_by",
    ]
    list_filter = [DataProtectionViewFilter, "status", "kind"]
    list_select_related = ["lead", "contact", "handled_by"]
    raw_id_fields = ["lead", "contact", "handled_by"]
    search_fields = ["requester"]
    readonly_fields = [
        "due_at",
        "extension_reason",
        "outcome",
        "completed_at",
        "erasure_record",
        "created_at",
        "updated_at",
    ]

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = StatusForm if obj else DataSubjectRequestForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return list(DataSubjectRequestForm._meta.fields)
        return [*StatusForm._meta.fields, "received_at", *self.readonly_fields]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        if not obj.is_open:
            return [*StatusForm._meta.fields, "received_at", *self.readonly_fields]
        return ["received_at", *self.readonly_fields]

    def has_change_permission(self, request, obj=None):
        if obj is not None and not obj.is_open:
            return False  # answered: shown read-only
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and not obj.is_open:
            return False
        return super().has_delete_permission(request, obj)

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # one at a time, from a still-open request's page
        return actions

    def delete_model(self, request, obj):
        data_subject_request_delete(request=obj, user=request.user, source=Source.INTERNAL)

    @admin.display(description="Subject")
    def subject_link(self, obj):
        subject = obj.subject
        if subject is None:
            return "not identified yet"
        opts = subject._meta
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[subject.pk])
        return format_html('<a href="{}">{} ({})</a>', url, subject, opts.verbose_name)

    @admin.display(description="Due", ordering="due_at")
    def due(self, obj):
        if obj.is_open and obj.due_at < timezone.now():
            return format_html(
                '<strong class="overdue">{} (overdue)</strong>', f"{obj.due_at:%Y-%m-%d}"
            )
        return f"{obj.due_at:%Y-%m-%d}"

    # ---- the buttons --------------------------------------------------------------------

    def get_urls(self):
        prefix = "consent_datasubjectrequest"
        return [
            path(
                "<path:object_id>/answer/<slug:action>/",
                self.admin_site.admin_view(self.action_view),
                name=f"{prefix}_action",
            ),
            path(
                "<path:object_id>/report/",
                self.admin_site.admin_view(self.report_view),
                name=f"{prefix}_report",
            ),
            path(
                "<path:object_id>/report/pdf/",
                self.admin_site.admin_view(self.report_pdf_view),
                name=f"{prefix}_report_pdf",
            ),
            *super().get_urls(),
        ]

    def _may_answer(self, request, obj, action: str) -> bool:
        if not obj.is_open or not super().has_change_permission(request, obj):
            return False
        if action == "complete" and obj.kind == Kind.ERASURE and obj.subject is not None:
            return request.user.has_perm(f"subjects.anonymize_{obj.subject.subject_type}")
        return True

    def action_view(self, request, object_id, action):
        obj = get_object_or_404(self.get_queryset(request), pk=object_id)
        if action not in ACTIONS:
            raise Http404
        if not self._may_answer(request, obj, action):
            raise PermissionDenied
        label, form_class = ACTIONS[action]
        form = form_class(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                self._answer(request, obj, action, form.cleaned_data)
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                self.message_user(request, f"{label}: done.", messages.SUCCESS)
                return redirect("admin:consent_datasubjectrequest_change", obj.pk)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": obj,
            "title": f"{label}: {obj}",
            "form": form,
            "action": action,
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/consent/datasubjectrequest/action.html", context)

    def _answer(self, request, obj, action: str, data: dict) -> None:
        common = {"request": obj, "user": request.user, "source": Source.INTERNAL}
        if action == "refuse":
            data_subject_request_refuse(**common, reason=data["reason"])
        elif action == "extend":
            data_subject_request_extend(**common, due_at=data["due_at"], reason=data["reason"])
        else:
            report = None
            if obj.kind == Kind.ACCESS and obj.subject is not None:
                report = subject_access_report(subject=obj.subject, user=request.user)
            data_subject_request_complete(**common, outcome=data["outcome"], access_report=report)

    def _report(self, request, object_id) -> tuple[DataSubjectRequest, dict]:
        obj = get_object_or_404(self.get_queryset(request), pk=object_id)
        if not self.has_view_permission(request, obj) or not obj.access_report:
            raise Http404
        return obj, report_visible_to(obj.access_report, request.user)

    def report_view(self, request, object_id):
        obj, report = self._report(request, object_id)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": obj,
            "title": f"Access report as sent: {obj}",
            "report": report,
            "pdf_url": reverse("admin:consent_datasubjectrequest_report_pdf", args=[obj.pk]),
        }
        return TemplateResponse(request, "admin/consent/datasubjectrequest/report.html", context)

    def report_pdf_view(self, request, object_id):
        return pdf_response(self._report(request, object_id)[1])

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, object_id)
        extra_context = extra_context or {}
        if obj is not None:
            extra_context["answer_buttons"] = [
                (label, reverse("admin:consent_datasubjectrequest_action", args=[obj.pk, name]))
                for name, (label, _) in ACTIONS.items()
                if self._may_answer(request, obj, name)
            ]
            if obj.access_report:
                extra_context["report_url"] = reverse(
                    "admin:consent_datasubjectrequest_report", args=[obj.pk]
                )
            if obj.erasure_record_id:
                extra_context["erasure_url"] = reverse(
                    "admin:consent_erasurerecord_change", args=[obj.erasure_record_id]
                )
        return super().change_view(request, object_id, form_url, extra_context)
