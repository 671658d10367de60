"""Admin building blocks shared by every app: the DPO view filter, large-table paging, and the
mixins that attribute ORM saves and deletions in the history (who, source, reason)."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponseRedirect
from django.utils.functional import cached_property

from common.audit import Source, delete_audited, stamp

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
        if self.value() in dpo_views(queryset.model):
            return queryset.for_view(self.value())
        return queryset


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
