"""Lead and contact pages: derived fields, consents inline, the consent center, the timeline and
access report, and the lifecycle buttons (qualify, convert, disqualify, deactivate, anonymize).
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from simple_history.admin import SimpleHistoryAdmin

from common.admin import (
    DataProtectionChangelistMixin,
    DataProtectionViewFilter,
    DateRangeFilter,
    LargeTableAdminMixin,
    ServiceAdminMixin,
    add_service_errors,
)
from consent.admin.bulk_actions import run_as_job
from consent.admin.consent_checks import may_check, subject_check_as_of_view
from consent.admin.data_consents import DataConsentInline
from consent.forms import (
    ContactForm,
    LeadForm,
    VerbalConsentForm,
)
from consent.reports.access_report import subject_access_report
from consent.reports.consent_center import subject_consent_center
from consent.reports.pdf import access_report_filename, access_report_pdf
from consent.reports.timeline import subject_timeline
from consent.services.contact_points import SUPPRESSED_NO_OP_MESSAGE
from consent.services.erasure import subject_anonymize
from consent.services.subjects import lead_qualify
from subjects import services as subject_services
from subjects.lifecycle import TRANSITIONS, may_transition
from subjects.models import Contact, DataProtectionConsent, Lead

TIMELINE_PAGE_SIZE = 100
SUBJECT_EXPORT_FIELDS = [
    ("ID", "id"),
    ("First name", "first_name"),
    ("Last name", "last_name"),
    ("E-mail", "email"),
    ("Phone", "phone"),
    ("Data Protection Consent", "data_protection_consent"),
    ("Consent Level", "consent_level"),
    ("Maximum Expiry Date", "max_expiry_date"),
    ("Restricted", "restricted"),
    ("Created", "created_at"),
]


def pdf_response(report: dict) -> HttpResponse:
    response = HttpResponse(access_report_pdf(report), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{access_report_filename(report)}"'
    return response


@dataclass(frozen=True)
class SubjectAction:
    name: str
    label: str
    run: Callable
    applies: Callable
    permission: str = "change"
    warning: str = ""


def _lifecycle_action(name: str, run: Callable, *, model, label: str = "", warning: str = ""):
    """A button for a transition of the lifecycle table: it shows where the table allows it."""
    transition = TRANSITIONS[model][name]
    return SubjectAction(
        name,
        label or transition.label,
        run,
        lambda subject: may_transition(subject, transition.name),
        warning=warning or transition.warning,
    )


LEAD_ACTIONS = {
    action.name: action
    for action in [
        _lifecycle_action("qualify", lambda s, u: lead_qualify(lead=s, user=u), model=Lead),
        SubjectAction(
            "convert",
            "Qualify and convert to contact",
            lambda s, u: lead_qualify(lead=s, convert=True, user=u),
            lambda s: may_transition(s, "qualify"),
            warning="A contact is created from this lead and its active data consents are "
            "linked to the new contact.",
        ),
        _lifecycle_action(
            "disqualify",
            lambda s, u: subject_services.lead_disqualify(lead=s, user=u),
            model=Lead,
        ),
        _lifecycle_action(
            "reactivate",
            lambda s, u: subject_services.lead_reactivate(lead=s, user=u),
            model=Lead,
        ),
    ]
}


CONTACT_ACTIONS = {
    action.name: action
    for action in [
        _lifecycle_action(
            "deactivate",
            lambda s, u: subject_services.contact_deactivate(contact=s, user=u),
            model=Contact,
        ),
        _lifecycle_action(
            "reactivate",
            lambda s, u: subject_services.contact_reactivate(contact=s, user=u),
            model=Contact,
        ),
    ]
}


ANONYMIZE = SubjectAction(
    "anonymize",
    "Anonymize",
    lambda s, u: subject_anonymize(subject=s, user=u),
    lambda s: not s.is_anonymized,
    permission="anonymize",
    warning="Irreversible. Names, email and phone are erased from this record and its history, "
    "every data consent becomes inactive with reason “anonymized”, and the record stays "
    "read-only for ever.",
)


LEAD_ACTIONS["anonymize"] = ANONYMIZE


CONTACT_ACTIONS["anonymize"] = ANONYMIZE


def _bulk_action(action: SubjectAction):
    def run(modeladmin, request, queryset):
        if action.warning and "confirmed" not in request.POST:
            return modeladmin.render_confirmation(request, action, list(queryset))
        code = f"{modeladmin.model._meta.model_name}.{action.name}"
        if run_as_job(modeladmin, request, queryset, code):
            return None
        done = 0
        for subject in queryset:
            try:
                action.run(subject, request.user)
                done += 1
            except ValidationError as exc:
                modeladmin.message_user(request, f"{subject}: {exc.messages[0]}", messages.ERROR)
        if done:
            modeladmin.message_user(request, f"{action.label}: {done} done.", messages.SUCCESS)
        return None

    run.__name__ = f"action_{action.name}"
    return admin.action(description=f"{action.label} selected", permissions=[action.permission])(
        run
    )


class LeadConsentInline(DataConsentInline):
    fk_name = "lead"


class ContactConsentInline(DataConsentInline):
    fk_name = "contact"


class SubjectAdmin(
    DataProtectionChangelistMixin, LargeTableAdminMixin, ServiceAdminMixin, SimpleHistoryAdmin
):
    actions_registry: dict = {}
    change_form_template = "admin/subjects/subject_change_form.html"
    # The derived fields under their DESIGN §1 names (the model's verbose names are shorter).
    readonly_fields = [
        "data_protection_consent_in_words",
        "subject_consent_level",
        "maximum_expiry_date",
        "anonymized_at",
        "created_at",
        "updated_at",
    ]
    preference_fieldset = (
        "Contact methods",
        {
            "fields": [
                "allow_email",
                "allow_bulk_email",
                "allow_phone",
                "allow_sms",
                "allow_postal_mail",
                "allow_tracking",
            ]
        },
    )
    protection_fieldset = (
        "Data protection",
        {
            "fields": [
                "data_protection_consent_in_words",
                "subject_consent_level",
                "maximum_expiry_date",
                "restricted",
                "inherent_basis",
                "inherent_basis_note",
                "anonymized_at",
            ]
        },
    )

    @admin.display(description="Data Protection Consent")
    def data_protection_consent_in_words(self, obj):
        """The derived value with why, where "Restrict" has two very different causes."""
        label = obj.get_data_protection_consent_display()
        if obj.data_protection_consent != DataProtectionConsent.RESTRICT:
            return label
        if obj.restricted:
            return f"{label}: processing restricted (GDPR Art. 18)"
        return f"{label}: no active data consent left (all expired or cancelled)"

    @admin.display(description="Consent Level", ordering="consent_level")
    def subject_consent_level(self, obj):
        return obj.get_consent_level_display()

    @admin.display(description="Maximum Expiry Date", ordering="max_expiry_date")
    def maximum_expiry_date(self, obj):
        return obj.max_expiry_date

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        for action in self.actions_registry.values():
            function = _bulk_action(action)
            actions[function.__name__] = (function, function.__name__, function.short_description)
        return {
            name: entry
            for name, entry in actions.items()
            if self._has_action_permission(request, entry[0])
        }

    def _has_action_permission(self, request, function):
        return all(
            getattr(self, f"has_{perm}_permission")(request)
            for perm in getattr(function, "allowed_permissions", ())
        )

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    def has_anonymize_permission(self, request, obj=None):
        return request.user.has_perm(f"subjects.anonymize_{self.model._meta.model_name}")

    def get_readonly_fields(self, request, obj=None):
        readonly = super().get_readonly_fields(request, obj)
        if request.user.has_perm(subject_services.protection_permission(self.model)):
            return readonly
        return [*readonly, *subject_services.PROTECTION_FIELDS]

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.is_read_only:
            return False  # shown read-only; lifecycle actions stay available
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False  # subjects are anonymized, never deleted

    search_fields = ["email"]  # shows the box; get_search_results decides what a term means
    search_help_text = "An exact e-mail address or phone number, or the start of a name."

    def get_search_results(self, request, queryset, search_term):
        return queryset.search(search_term), False

    def check_as_of_view(self, request, object_id):
        return subject_check_as_of_view(self, request, object_id)

    def get_urls(self):
        opts = self.model._meta
        prefix = f"{opts.app_label}_{opts.model_name}"
        return [
            path(
                "<path:object_id>/lifecycle/<slug:action>/",
                self.admin_site.admin_view(self.lifecycle_view),
                name=f"{prefix}_lifecycle",
            ),
            path(
                "<path:object_id>/verbal-consent/",
                self.admin_site.admin_view(self.verbal_consent_view),
                name=f"{prefix}_verbal_consent",
            ),
            path(
                "<path:object_id>/timeline/",
                self.admin_site.admin_view(self.timeline_view),
                name=f"{prefix}_timeline",
            ),
            path(
                "<path:object_id>/check-as-of/",
                self.admin_site.admin_view(self.check_as_of_view),
                name=f"{prefix}_check_as_of",
            ),
            path(
                "<path:object_id>/access-report/",
                self.admin_site.admin_view(self.access_report_view),
                name=f"{prefix}_access_report",
            ),
            path(
                "<path:object_id>/access-report/pdf/",
                self.admin_site.admin_view(self.access_report_pdf_view),
                name=f"{prefix}_access_report_pdf",
            ),
            *super().get_urls(),
        ]

    def _viewable_subject(self, request, object_id):
        obj = get_object_or_404(self.get_queryset(request), pk=object_id)
        if not self.has_view_permission(request, obj):
            raise PermissionDenied
        return obj

    def _page_context(self, request, obj, title):
        return {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": obj,
            "title": title,
        }

    def has_verbal_consent_permission(self, request):
        return request.user.has_perm("consent.add_contactpointconsent")

    def verbal_consent_view(self, request, object_id):
        obj = self._viewable_subject(request, object_id)
        if not self.has_verbal_consent_permission(request) or obj.is_anonymized:
            raise PermissionDenied
        form = VerbalConsentForm(request.POST or None, subject=obj)
        if request.method == "POST" and form.is_valid():
            try:
                record, _, _ = form.record(request.user)
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                if record is None:
                    self.message_user(request, SUPPRESSED_NO_OP_MESSAGE, messages.WARNING)
                else:
                    self.message_user(request, "Verbal consent recorded.", messages.SUCCESS)
                opts = self.model._meta
                return redirect(f"admin:{opts.app_label}_{opts.model_name}_change", obj.pk)
        context = {
            **self._page_context(request, obj, f"Record verbal consent: {obj}"),
            "form": form,
        }
        return TemplateResponse(request, "admin/subjects/verbal_consent.html", context)

    def timeline_view(self, request, object_id):
        obj = self._viewable_subject(request, object_id)
        entries = subject_timeline(subject=obj, user=request.user)
        page = Paginator(entries, TIMELINE_PAGE_SIZE).get_page(request.GET.get("page"))
        context = {
            **self._page_context(request, obj, f"GDPR activity timeline: {obj}"),
            "page": page,
        }
        return TemplateResponse(request, "admin/subjects/timeline.html", context)

    def access_report_view(self, request, object_id):
        obj = self._viewable_subject(request, object_id)
        report = subject_access_report(subject=obj, user=request.user)
        opts = self.model._meta
        context = {
            **self._page_context(request, obj, f"Access report (GDPR Art. 15): {obj}"),
            "report": report,
            "pdf_url": reverse(
                f"admin:{opts.app_label}_{opts.model_name}_access_report_pdf", args=[obj.pk]
            ),
        }
        return TemplateResponse(request, "admin/subjects/access_report.html", context)

    def access_report_pdf_view(self, request, object_id):
        obj = self._viewable_subject(request, object_id)
        return pdf_response(subject_access_report(subject=obj, user=request.user))

    def available_actions(self, request, obj):
        return [
            action
            for action in self.actions_registry.values()
            if action.applies(obj) and getattr(self, f"has_{action.permission}_permission")(request)
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, object_id)
        extra_context = extra_context or {}
        if obj is not None:
            opts = self.model._meta
            url_name = f"admin:{opts.app_label}_{opts.model_name}_lifecycle"
            extra_context["subject_actions"] = [
                (action, reverse(url_name, args=[obj.pk, action.name]))
                for action in self.available_actions(request, obj)
            ]
            prefix = f"admin:{opts.app_label}_{opts.model_name}"
            extra_context["timeline_url"] = reverse(f"{prefix}_timeline", args=[obj.pk])
            extra_context["consent_center"] = subject_consent_center(obj)
            if self.has_verbal_consent_permission(request) and not obj.is_anonymized:
                extra_context["verbal_consent_url"] = reverse(
                    f"{prefix}_verbal_consent", args=[obj.pk]
                )
            extra_context["access_report_url"] = reverse(f"{prefix}_access_report", args=[obj.pk])
            if may_check(request):
                extra_context["check_as_of_url"] = reverse(f"{prefix}_check_as_of", args=[obj.pk])
            extra_context["add_consent_url"] = (
                reverse("admin:consent_dataconsent_add") + f"?{opts.model_name}={obj.pk}"
                if not obj.is_read_only and request.user.has_perm("consent.add_dataconsent")
                else None
            )
        return super().change_view(request, object_id, form_url, extra_context)

    def lifecycle_view(self, request, object_id, action):
        obj = get_object_or_404(self.get_queryset(request), pk=object_id)
        subject_action = self.actions_registry.get(action)
        if subject_action is None:
            raise Http404
        if not getattr(self, f"has_{subject_action.permission}_permission")(request):
            raise PermissionDenied
        if request.method == "POST":
            try:
                result = subject_action.run(obj, request.user)
            except ValidationError as exc:
                self.message_user(request, " ".join(exc.messages), messages.ERROR)
            else:
                self.message_user(request, f"{subject_action.label}: done.", messages.SUCCESS)
                if isinstance(result, Contact) and not isinstance(obj, Contact):
                    # A convert lands on the new contact, where the work continues.
                    return redirect("admin:subjects_contact_change", result.pk)
            opts = self.model._meta
            return redirect(f"admin:{opts.app_label}_{opts.model_name}_change", obj.pk)
        return self.render_confirmation(request, subject_action, [obj], single=True)

    def render_confirmation(self, request, action, objects, single=False):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"{action.label}: are you sure?",
            "action": action,
            "objects": objects,
            "single": single,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/subjects/lifecycle_confirm.html", context)


@admin.register(Lead)
class LeadAdmin(SubjectAdmin):
    form = LeadForm
    actions_registry = LEAD_ACTIONS
    inlines = [LeadConsentInline]
    list_display = [
        "__str__",
        "email",
        "company_name",
        "status",
        "data_protection_consent",
        "subject_consent_level",
        "maximum_expiry_date",
    ]
    list_filter = [
        DataProtectionViewFilter,
        "status",
        "data_protection_consent",
        ("created_at", DateRangeFilter),
    ]
    readonly_fields = [*SubjectAdmin.readonly_fields, "status", "converted_contact"]
    export_fields = [
        *SUBJECT_EXPORT_FIELDS,
        ("Company", "company_name"),
        ("Status", "status"),
    ]

    def get_fieldsets(self, request, obj=None):
        return [
            (
                None,
                {
                    "fields": [
                        "first_name",
                        "last_name",
                        "email",
                        "phone",
                        "company_name",
                        "source",
                        "status",
                        "converted_contact",
                    ]
                },
            ),
            self.preference_fieldset,
            self.protection_fieldset,
        ]


@admin.register(Contact)
class ContactAdmin(SubjectAdmin):
    form = ContactForm
    actions_registry = CONTACT_ACTIONS
    inlines = [ContactConsentInline]
    list_display = [
        "__str__",
        "email",
        "account",
        "state",
        "data_protection_consent",
        "subject_consent_level",
        "maximum_expiry_date",
    ]
    list_filter = [
        DataProtectionViewFilter,
        "state",
        "data_protection_consent",
        ("created_at", DateRangeFilter),
    ]
    list_select_related = ["account"]
    export_fields = [*SUBJECT_EXPORT_FIELDS, ("Account", "account__name"), ("State", "state")]
    raw_id_fields = ["account"]
    readonly_fields = [*SubjectAdmin.readonly_fields, "state"]

    def get_fieldsets(self, request, obj=None):
        return [
            (None, {"fields": ["first_name", "last_name", "email", "phone", "account", "state"]}),
            self.preference_fieldset,
            self.protection_fieldset,
        ]
