"""Admin building blocks shared by every app: the DPO view filter and large-table paging."""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.utils.functional import cached_property

COUNT_CAP = 10_000


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
        if self.value() in dpo_views(queryset.model):
            return queryset.for_view(self.value())
        return queryset


class LargeTableAdminMixin:
    """Scale habits for tables with a million rows."""

    paginator = BoundedCountPaginator
    show_full_result_count = False
    list_per_page = 50


class ServiceModelForm(forms.ModelForm):
    """A ModelForm whose save goes through a service.

    The service runs during validation (inside the admin's transaction), so the errors it raises
    become form errors instead of a 500, and a failing service has written nothing.
    Subclasses implement `apply(user) -> instance`; `self.user` is set by ServiceAdminMixin.
    """

    user = None

    def apply(self, user):
        raise NotImplementedError

    def _post_clean(self):
        if self.errors:
            return
        try:
            self.instance = self.apply(self.user)
        except ValidationError as exc:
            add_service_errors(self, exc)


def add_service_errors(form: forms.Form, exc: ValidationError) -> None:
    """A service's ValidationError on a form: on the field it names, else on the form."""
    errors = exc.error_dict if hasattr(exc, "error_dict") else {None: exc.error_list}
    for field, messages in errors.items():
        target = field if field in form.fields else None
        form.add_error(target, ValidationError(messages))


class ServiceAdminMixin:
    """Hands the request user to a ServiceModelForm; the form's service has already saved."""

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        form.user = request.user
        return form

    def save_model(self, request, obj, form, change):
        pass  # saved by the service in ServiceModelForm.apply

    def save_related(self, request, form, formsets, change):
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)
