"""The consent check in the admin (DESIGN §3.4): "Check an address" — any address, now or as of
a past instant — and a subject's "Check as of…" page, each showing the decision in words with
its explanation. Open to whoever may run consent checks (`consent.check_consent`)."""

from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse

from common.admin import add_service_errors
from consent.forms import AddressCheckForm, CheckAsOfForm
from consent.reports.consent_center import subject_consent_center
from consent.reports.consent_checks import address_check

CHECK_PERMISSION = "consent.check_consent"


def may_check(request) -> bool:
    return request.user.has_perm(CHECK_PERMISSION)


def address_check_view(model_admin, request):
    """GET with the form's fields in the query string: a check is a pure read, and its URL can
    be shared or bookmarked."""
    if not may_check(request):
        raise PermissionDenied
    form = AddressCheckForm(request.GET or None)
    result = None
    if form.is_valid():
        try:
            result = address_check(**form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": "Check an address",
        "form": form,
        "result": result,
    }
    return TemplateResponse(request, "admin/consent/address_check.html", context)


def subject_check_as_of_view(model_admin, request, object_id):
    """The subject's consent center replayed as of a past instant, each row in words."""
    if not may_check(request):
        raise PermissionDenied
    obj = get_object_or_404(model_admin.get_queryset(request), pk=object_id)
    if not model_admin.has_view_permission(request, obj):
        raise PermissionDenied
    form = CheckAsOfForm(request.GET or None)
    rows = None
    if form.is_valid():
        try:
            rows = subject_consent_center(obj, as_of=form.cleaned_data["as_of"])
        except ValidationError as exc:
            add_service_errors(form, exc)
    opts = model_admin.model._meta
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": opts,
        "original": obj,
        "title": f"Check as of…: {obj}",
        "form": form,
        "rows": rows,
        "as_of": form.cleaned_data.get("as_of") if form.is_bound and rows is not None else None,
        "address_check_url": reverse("admin:consent_contactpointconsent_check"),
    }
    return TemplateResponse(request, "admin/subjects/check_as_of.html", context)
