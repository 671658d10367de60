"""Data consents and their substatuses in the admin; confidentiality applied everywhere."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
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
from subjects.models import Contact, DataProtectionConsent, Lead


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


class StateChangeForm(forms.Form):
    reason = forms.CharField(
        max_length=200,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Why: it is kept in the GDPR timeline (e.g. “customer withdrew by phone”).",
    )


def _can_reactivate(consent: DataConsent) -> bool:
    return consent.status_reason == DataConsent.Reason.CANCELLED


# name: (label, service, applies to a consent in this state)
STATE_ACTIONS = {
    "cancel": ("Cancel", data_consent_cancel, lambda consent: consent.is_active),
    "reactivate": ("Reactivate", data_consent_reactivate, _can_reactivate),
}


def cancel_side_effects(consent: DataConsent) -> list[str]:
    """What else a cancel changes, in words, before it happens: a subject whose last active
    consent this is becomes "restrict" and its contact methods are switched off (DESIGN §3.1)."""
    effects = []
    for subject in consent.subjects:
        others = subject.data_consents.filter(state=DataConsent.State.ACTIVE).exclude(pk=consent.pk)
        if consent.is_active and not others.exists() and not subject.inherent_basis:
            effects.append(
                f"{subject} has no other active consent: its Data Protection Consent becomes "
                "“Restrict” and every contact method (e-mail, bulk e-mail, phone, SMS, post, "
                "tracking) is switched off until someone turns it on again."
            )
    return effects


def _state_message(consent: DataConsent, label: str) -> str:
    consent.refresh_from_db()
    switched_off = [
        str(subject)
        for subject in consent.subjects
        if subject.data_protection_consent == DataProtectionConsent.RESTRICT
    ]
    verb = "Cancelled" if label == "Cancel" else "Reactivated"
    message = f"{verb} data consent #{consent.pk}."
    if label == "Cancel" and switched_off:
        message += f" Contact methods switched off for {', '.join(switched_off)}."
    return message


@admin.register(DataConsent)
class DataConsentAdmin(
    DataProtectionChangelistMixin, LargeTableAdminMixin, ServiceAdminMixin, SimpleHistoryAdmin
):
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
        ("given_at", DateRangeFilter),
        ("valid_until", DateRangeFilter),
    ]
    search_fields = ["contact__email"]  # shows the box; get_search_results decides
    search_help_text = "The subject's exact e-mail address or phone number, or the start of a name."
    # The expiring views are about the date a consent ends: show it first and sort by it.
    view_list_display = {
        code: ["subject_link", "valid_until", "policy", "consent_level", "given_at", "confidential"]
        for code in ("expiring_2_weeks", "expiring_this_year")
    }
    view_ordering = {code: ["valid_until", "id"] for code in view_list_display}
    export_fields = [
        ("ID", "id"),
        ("Lead", "lead_id"),
        ("Lead last name", "lead__last_name"),
        ("Contact", "contact_id"),
        ("Contact last name", "contact__last_name"),
        ("Policy", "policy__name"),
        ("Consent Level", "consent_level"),
        ("State", "state"),
        ("Status reason", "status_reason"),
        ("Given at", "given_at"),
        ("Valid until", "valid_until"),
        ("Confidential", "confidential"),
        ("Source", "source"),
        ("Notice version", "notice_version"),
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

    def get_search_results(self, request, queryset, search_term):
        """A subject's consents: by its exact e-mail or phone, or the start of its name."""
        if not search_term.strip():
            return queryset, False
        # A UNION of the leads' and the contacts' consents, each found through its own index:
        # with `lead IN (…) OR contact IN (…)` PostgreSQL walks the whole table backwards by id
        # instead (2.3 s at 1.9M consents, against under 1 ms).
        matching = (
            DataConsent.objects.filter(lead__in=Lead.objects.search(search_term))
            .order_by()
            .values("pk")
            .union(
                DataConsent.objects.filter(contact__in=Contact.objects.search(search_term))
                .order_by()
                .values("pk"),
                all=True,
            )
        )
        return queryset.filter(pk__in=matching), False

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

    change_form_template = "admin/consent/dataconsent_change_form.html"

    def get_urls(self):
        prefix = "consent_dataconsent"
        return [
            path(
                "<path:object_id>/<slug:action>/confirm/",
                self.admin_site.admin_view(self.state_view),
                name=f"{prefix}_state",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        consent = self.get_object(request, object_id)
        extra_context = {**(extra_context or {})}
        if consent is not None and self.has_cancel_permission(request):
            extra_context["state_actions"] = [
                (name, label)
                for name, (label, _, applies) in STATE_ACTIONS.items()
                if applies(consent)
            ]
        return super().change_view(request, object_id, form_url, extra_context)

    def state_view(self, request, object_id, action):
        """Cancel or reactivate one consent, with the reason the timeline will show, after
        saying what else changes (the subject's contact methods when its last consent goes)."""
        consent = self.get_object(request, object_id)
        if consent is None or action not in STATE_ACTIONS:
            raise Http404
        if not self.has_cancel_permission(request):
            raise PermissionDenied
        label, service, _ = STATE_ACTIONS[action]
        form = StateChangeForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                service(consent=consent, user=request.user, note=form.cleaned_data["reason"])
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                self.message_user(request, _state_message(consent, label), messages.SUCCESS)
                return redirect("admin:consent_dataconsent_change", consent.pk)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": consent,
            "title": f"{label} data consent #{consent.pk}",
            "label": label,
            "form": form,
            "side_effects": cancel_side_effects(consent) if action == "cancel" else [],
        }
        return TemplateResponse(request, "admin/consent/dataconsent_state.html", context)

    @admin.display(description="Subject")
    def subject_link(self, obj):
        subject = obj.contact or obj.lead
        opts = subject._meta
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[subject.pk])
        return format_html('<a href="{}">{} ({})</a>', url, subject, opts.verbose_name)

    def _run(self, request, queryset, action: str):
        """A bulk cancel / reactivate: asks for the reason first, then runs the service per
        consent with it."""
        label, service, _ = STATE_ACTIONS[action]
        form = StateChangeForm(request.POST if "reason" in request.POST else None)
        if not form.is_bound or not form.is_valid():
            context = {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "title": f"{label} {queryset.count()} data consent(s)",
                "label": label,
                "form": form,
                "selected": queryset.values_list("pk", flat=True),
                "action": f"{action}_selected",
                "side_effects": [
                    effect
                    for consent in queryset[:50]
                    for effect in (cancel_side_effects(consent) if action == "cancel" else [])
                ],
            }
            return TemplateResponse(request, "admin/consent/dataconsent_state.html", context)
        if run_as_job(self, request, queryset, f"dataconsent.{action}"):
            return None  # a large selection runs as a job (with the services' own reason)
        done = 0
        for consent in queryset:
            try:
                service(consent=consent, user=request.user, note=form.cleaned_data["reason"])
                done += 1
            except ValidationError as exc:
                self.message_user(request, f"#{consent.pk}: {exc.messages[0]}", messages.ERROR)
        if done:
            self.message_user(request, f"{label}: {done} consent(s).", messages.SUCCESS)
        return None

    @admin.action(description="Cancel selected data consents", permissions=["cancel"])
    def cancel_selected(self, request, queryset):
        return self._run(request, queryset, "cancel")

    @admin.action(description="Reactivate selected cancelled data consents", permissions=["cancel"])
    def reactivate_selected(self, request, queryset):
        return self._run(request, queryset, "reactivate")


@admin.register(ConsentLevelSubstatus)
class ConsentLevelSubstatusAdmin(admin.ModelAdmin):
    list_display = ["name", "level"]
    list_filter = ["level"]
