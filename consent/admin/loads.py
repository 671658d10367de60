"""Admin of the consent load (DESIGN §3.8): upload → preview → confirm → progress → result.

"Add consent load" is the upload form; it stores a dry run and sends the user to the load's
page, which follows the job: a progress bar that refreshes itself (no JavaScript) while it runs,
then the preview with its counts, row errors and a Confirm button, which starts the real load
(the same file) and leads to its progress and result pages. Row errors download as CSV.
Everything goes through consent.loads — the same code as the API and the command.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse, HttpResponseNotAllowed, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path

from common.csvutil import csv_lines
from consent.loads.rows import HEADER
from consent.loads.runner import consent_load_confirm, consent_load_create
from consent.models import ComplianceProfile, ConsentLoad

ERRORS_SHOWN = 100  # on the page; the CSV holds every stored row error
ERROR_CSV_HEADER = ["line", "column", "kind", "message"]


SAMPLE_CSV = (
    f"{HEADER}\n"
    "email,ada@example.org,Commercial,,opted_in,form,web sign-up,2026-03-03T09:15:00,"
    "the customer\n"
    "email,ada@example.org,Commercial,Newsletter,opted_in,,,2026-03-03T09:15:00,\n"
    "sms,+31612345678,Commercial,,opted_out,verbal,asked on the phone,2026-04-01T14:00:00,"
    "customer by phone\n"
)


class ConsentLoadUploadForm(forms.Form):
    file = forms.FileField(
        required=False,
        help_text=f"UTF-8 CSV (with or without BOM), header: {HEADER}. Topic may be empty; "
        "source defaults to “loaded”; captured_at is ISO 8601 (no offset: UTC).",
    )
    profile = forms.ModelChoiceField(ComplianceProfile.objects.all(), empty_label=None)
    mode = forms.ChoiceField(choices=ConsentLoad.Mode.choices, initial=ConsentLoad.Mode.REJECT)
    from_subjects = forms.BooleanField(
        required=False,
        label="Migration from subjects",
        help_text="No file: build contact-point consent from the subjects' preferences and "
        "subscription lists.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        default = ComplianceProfile.objects.filter(is_default=True).first()
        self.fields["profile"].initial = default.pk if default else None

    def preview(self, user) -> ConsentLoad | None:
        """Store the load as a dry run (its job starts after the commit); errors on the form."""
        data = self.cleaned_data
        upload = data["file"]
        try:
            return consent_load_create(
                profile=data["profile"],
                file=upload,
                file_name=upload.name if upload else "",
                mode=data["mode"],
                from_subjects=data["from_subjects"],
                dry_run=True,
                user=user,
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                self.add_error(field if field in self.fields else None, errors)
            return None


@admin.register(ConsentLoad)
class ConsentLoadAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "created_at",
        "what",
        "profile",
        "mode",
        "dry_run",
        "status",
        "written",
        "created_by",
    ]
    list_display_links = ["id", "what"]
    list_filter = ["status", "mode", "dry_run", "from_subjects"]
    list_select_related = ["profile", "created_by"]
    show_full_result_count = False

    def get_queryset(self, request):
        return super().get_queryset(request).defer("row_errors")

    def has_change_permission(self, request, obj=None):
        return False  # a load is a record of what happened; it is never edited

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="File")
    def what(self, load: ConsentLoad) -> str:
        return "Migration from subjects" if load.from_subjects else load.file_name

    @admin.display(description="Written")
    def written(self, load: ConsentLoad) -> int:
        return load.counts.get("written", 0)

    def get_urls(self):
        prefix = "consent_consentload"
        view = self.admin_site.admin_view
        return [
            path("<int:load_id>/confirm/", view(self.confirm_view), name=f"{prefix}_confirm"),
            path("<int:load_id>/errors.csv", view(self.errors_csv_view), name=f"{prefix}_errors"),
            path("<int:load_id>/", view(self.load_view), name=f"{prefix}_load"),
            path("sample.csv", view(self.sample_view), name=f"{prefix}_sample"),
            *super().get_urls(),
        ]

    def sample_view(self, request):
        """A file to start from: the header and one row of each kind the load takes."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        response = HttpResponse(SAMPLE_CSV, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="consent-load-sample.csv"'
        return response

    # Upload

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = ConsentLoadUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            load = form.preview(request.user)
            if load is not None:
                return redirect("admin:consent_consentload_load", load.pk)
        context = self._context(request, "Upload consent", form=form)
        return TemplateResponse(request, "admin/consent/consentload_upload.html", context)

    # One load: progress, preview or result, by its status

    def change_view(self, request, object_id, form_url="", extra_context=None):
        return redirect("admin:consent_consentload_load", object_id)

    def load_view(self, request, load_id):
        load = self._viewable(request, load_id)
        if not load.is_finished:
            template, title = "consentload_progress.html", "Consent load running"
        elif load.status == ConsentLoad.Status.PREVIEWED:
            template, title = "consentload_preview.html", "Consent load preview"
        else:
            template, title = "consentload_result.html", "Consent load result"
        context = self._context(
            request,
            f"{title}: #{load.pk}",
            load=load,
            errors=load.row_errors[:ERRORS_SHOWN],
            can_confirm=load.can_confirm and self.has_add_permission(request),
            confirmations=list(load.confirmations.all()),
        )
        return TemplateResponse(request, f"admin/consent/{template}", context)

    def confirm_view(self, request, load_id):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_add_permission(request):
            raise PermissionDenied
        preview = self._viewable(request, load_id)
        try:
            load = consent_load_confirm(preview=preview, user=request.user)
        except ValidationError as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
            return redirect("admin:consent_consentload_load", preview.pk)
        self.message_user(request, f"Consent load #{load.pk} started.", messages.SUCCESS)
        return redirect("admin:consent_consentload_load", load.pk)

    def errors_csv_view(self, request, load_id):
        load = self._viewable(request, load_id)
        rows = ([e["line"] or "", e["column"], e["kind"], e["message"]] for e in load.row_errors)
        response = StreamingHttpResponse(
            csv_lines(ERROR_CSV_HEADER, rows), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = (
            f'attachment; filename="consent-load-{load.pk}-errors.csv"'
        )
        return response

    def _viewable(self, request, load_id) -> ConsentLoad:
        load = get_object_or_404(ConsentLoad.objects.select_related("profile"), pk=load_id)
        if not self.has_view_permission(request, load):
            raise PermissionDenied
        return load

    def _context(self, request, title: str, **extra) -> dict:
        return {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": title,
            **extra,
        }
