"""Admin building blocks shared by every app: the DPO view filter, large-table paging, and the
mixins that attribute ORM saves and deletions in the history (who, source, reason)."""

from datetime import date, timedelta

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponseBadRequest, HttpResponseRedirect, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.dateparse import parse_datetime
from django.utils.functional import cached_property
from django.utils.text import slugify

from common.audit import Source, delete_audited, stamp
from common.export import export_csv

COUNT_CAP = 10_000


_INTEGER_PK_TYPES = (
    "AutoField",
    "BigAutoField",
    "SmallAutoField",
    "IntegerField",
    "BigIntegerField",
)
_BIGINT_MAX = 2**63 - 1


def is_object_id(pk_field, object_id: str) -> bool:
    """Is `object_id` (from a URL) a possible key? Integer keys: ASCII digits in bigint range
    only (Python's int() also takes "１２" and " 12 ")."""
    if pk_field.get_internal_type() not in _INTEGER_PK_TYPES:
        return True
    return object_id.isascii() and object_id.isdigit() and int(object_id) <= _BIGINT_MAX


def dpo_views(model) -> dict:
    """The named views of a model: {code: (label, QuerySet method)}; empty if it has none."""
    return getattr(model._default_manager._queryset_class, "VIEWS", {})


def bounded_count(queryset, cap: int = COUNT_CAP) -> int:
    """COUNT over at most `cap + 1` rows: never a full scan of a million-row table."""
    return queryset.order_by()[: cap + 1].count()


def format_count(count: int, cap: int = COUNT_CAP) -> str:
    return f"{cap:,}+" if count > cap else f"{count:,}"


class BoundedCountPaginator(Paginator):
    """Counts at most COUNT_CAP + 1 rows; pages past that point are not offered."""

    @cached_property
    def count(self):
        return min(bounded_count(self.object_list), COUNT_CAP)


class DataProtectionViewFilter(admin.SimpleListFilter):
    """The "Data Protection view" filter (`?view=`): one QuerySet method per choice."""

    title = "Data Protection view"
    parameter_name = "view"

    def lookups(self, request, model_admin):
        return [(code, label) for code, (label, _) in dpo_views(model_admin.model).items()]

    def queryset(self, request, queryset):
        code = self.value()
        if code is None:
            return queryset
        if code not in dpo_views(queryset.model):
            raise IncorrectLookupParameters(f"Unknown Data Protection view {code!r}.")
        return queryset.for_view(code)


class LargeTableAdminMixin:
    """Scale habits for tables with a million rows."""

    paginator = BoundedCountPaginator
    show_full_result_count = False
    list_per_page = 50


class ServiceModelForm(forms.ModelForm):
    """A ModelForm validated by a service's `*_validate` function and saved by the service.

    `clean()` calls `validate(user)` (the service's checks, on a copy: nothing is written, and
    `self.instance` stays as loaded); its errors become form errors. The service itself runs in
    `apply(user)`, called by ServiceAdminMixin.save_model only once the form and every inline
    formset are valid, so a failed admin POST leaves the database untouched.
    Subclasses implement `validate(user)` and `apply(user) -> instance`; `self.user` is set by
    ServiceAdminMixin.
    """

    user = None

    def validate(self, user) -> None:
        raise NotImplementedError

    def apply(self, user):
        raise NotImplementedError

    def clean(self):
        cleaned_data = super().clean()
        if not self._errors:
            try:
                self.validate(self.user)
            except ValidationError as exc:
                add_service_errors(self, exc)
        return cleaned_data

    def _post_clean(self):
        pass  # the model is validated by `validate`, on a copy; the service assigns the fields


def add_service_errors(form: forms.Form, exc: ValidationError) -> None:
    """A service's ValidationError on a form: on the field it names, else on the form."""
    errors = exc.error_dict if hasattr(exc, "error_dict") else {None: exc.error_list}
    for field, field_messages in errors.items():
        target = field if field in form.fields else None
        form.add_error(target, ValidationError(field_messages))


class ServiceAdminMixin:
    """Hands the request user to a ServiceModelForm and saves through its service, after every
    form and formset of the page is valid (Django calls save_model only then)."""

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        form.user = request.user
        return form

    def save_model(self, request, obj, form, change):
        saved = form.apply(request.user)
        # `obj` is the instance the inline formsets and the response hold: make it the saved row.
        obj.pk = saved.pk
        obj._state.adding = False
        obj.refresh_from_db()

    def save_related(self, request, form, formsets, change):
        for formset in formsets:  # the service saved the form's own fields (m2m included)
            self.save_formset(request, form, formset, change=change)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        # The page validated, but the service refused at write time (a concurrent change):
        # the admin's transaction is rolled back, and the user sees why.
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ValidationError as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())


class AuditedDeleteMixin:
    """Admin deletions (the delete page and the "delete selected" action) leave history rows
    naming the staff user, source `internal` and reason "deleted", one object at a time, for
    the rows the deletion cascades to as well."""

    def delete_model(self, request, obj):
        delete_audited(obj, user=request.user, source=Source.INTERNAL)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)


class AuditedAdminMixin(AuditedDeleteMixin):
    """For admins that save with the ORM rather than a service: every history row their
    pages write (inline rows included) names the staff user, source `internal` and a reason."""

    def save_model(self, request, obj, form, change):
        stamp(
            obj, user=request.user, source=Source.INTERNAL, reason="edited" if change else "created"
        )
        super().save_model(request, obj, form, change)

    def save_formset(self, request, form, formset, change):
        instances = formset.save(commit=False)
        for obj in formset.deleted_objects:
            self.delete_model(request, obj)
        for obj in instances:
            reason = "edited" if obj.pk else "created"
            stamp(obj, user=request.user, source=Source.INTERNAL, reason=reason)
            obj.save()
        formset.save_m2m()


class DateRangeFilter(admin.FieldListFilter):
    """From / to dates for a date or datetime field (`<field>__gte`, `<field>__lt`): the range a
    DPO asks for ("given in March"), which Django's fixed choices (today, past 7 days…) miss.
    The "to" date is inclusive."""

    template = "admin/date_range_filter.html"

    def __init__(self, field, request, params, model, model_admin, field_path):
        self.lookup_gte = f"{field_path}__gte"
        self.lookup_lt = f"{field_path}__lt"
        super().__init__(field, request, params, model, model_admin, field_path)  # pops ours
        self.title = f"{field.verbose_name} (range)"
        for lookup in (self.lookup_gte, self.lookup_lt):
            value = self.used_parameters.get(lookup, "")
            self.used_parameters[lookup] = value[-1] if isinstance(value, list) else value

    def expected_parameters(self):
        return [self.lookup_gte, self.lookup_lt]

    def has_output(self):
        return True

    def choices(self, changelist):
        return []

    def queryset(self, request, queryset):
        conditions = {}
        for lookup, shift in ((self.lookup_gte, 0), (self.lookup_lt, 1)):
            raw = self.used_parameters.get(lookup)
            if not raw:
                continue
            try:
                conditions[lookup] = date.fromisoformat(raw) + timedelta(days=shift)
            except ValueError:
                # An instant (the dashboard links a week's exact bounds) is taken as it is.
                moment = parse_datetime(raw)
                if moment is None:
                    raise IncorrectLookupParameters(
                        f"Enter a valid date for {self.title}."
                    ) from None
                conditions[lookup] = moment
        return queryset.filter(**conditions)

    def range_form(self, changelist):
        """What the template renders: the two inputs, and every other parameter (other
        filters, the search, the order) kept as hidden inputs."""
        mine = (self.lookup_gte, self.lookup_lt)
        return {
            "gte": (self.lookup_gte, self.used_parameters.get(self.lookup_gte, "")),
            "lt": (self.lookup_lt, self.used_parameters.get(self.lookup_lt, "")),
            "keep": [(key, value) for key, value in changelist.params.items() if key not in mine],
        }


class DataProtectionChangelistMixin:
    """A changelist a DPO works in: the chosen view's label as the heading, an unknown view as a
    clear error (never the unfiltered list), the columns and order that matter for each view, a
    search box, and an export of exactly the rows shown as a streamed CSV.

    Subclasses set `view_list_display` / `view_ordering` ({view code: …}) and `export_fields`
    ([(header, ORM path)], choice fields written as their labels)."""

    view_list_display: dict[str, list] = {}
    view_ordering: dict[str, list] = {}
    export_fields: list[tuple[str, str]] = []
    change_list_template = "admin/dpo_change_list.html"

    def _view(self, request) -> str | None:
        return request.GET.get(DataProtectionViewFilter.parameter_name) or None

    def get_list_display(self, request):
        return self.view_list_display.get(self._view(request), super().get_list_display(request))

    def get_ordering(self, request):
        return self.view_ordering.get(self._view(request), super().get_ordering(request))

    def changelist_view(self, request, extra_context=None):
        views = dpo_views(self.model)
        code = self._view(request)
        if code is not None and code not in views:
            context = {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "title": "Unknown Data Protection view",
                "code": code,
                "views": [(key, label) for key, (label, _) in views.items()],
            }
            return TemplateResponse(request, "admin/unknown_view.html", context, status=400)
        extra_context = dict(extra_context or {})
        if code is not None:
            extra_context["title"] = views[code][0]
        if self.export_fields:
            query = request.GET.urlencode()
            extra_context["export_url"] = f"export.csv{'?' + query if query else ''}"
        return super().changelist_view(request, extra_context)

    def get_urls(self):
        opts = self.model._meta
        urls = [
            path(
                "export.csv",
                self.admin_site.admin_view(self.export_view),
                name=f"{opts.app_label}_{opts.model_name}_export",
            )
        ]
        return urls + super().get_urls()

    def export_view(self, request):
        """The changelist's rows (same view, filters, search and order; confidentiality comes
        with the admin's queryset) as CSV, streamed from a server-side cursor."""
        if not self.has_view_or_change_permission(request) or not self.export_fields:
            raise PermissionDenied
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters as exc:
            return HttpResponseBadRequest(str(exc) or "Unknown filter.")
        queryset = changelist.get_queryset(request)
        response = StreamingHttpResponse(
            export_csv(queryset, self.export_fields),
            content_type="text/csv; charset=utf-8",
        )
        name = slugify(self._view(request) or opts_name(self.model))
        response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
        return response


def opts_name(model) -> str:
    return str(model._meta.verbose_name_plural)
