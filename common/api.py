"""REST API plumbing shared by every app: paging, errors, permissions, strict filters.

Error format (every 4xx answer is JSON):

* 400 — invalid input: ``{"<field>": ["message", ...], ...}``; errors that belong to no single
  field (malformed JSON included) are listed under ``"non_field_errors"`` (the key DRF
  serializers use), never ``"detail"``. The Django ``ValidationError``s the services raise are
  mapped the same way; query-string filters and ``page`` / ``page_size`` too, by parameter.
  A body nested deeper than ``MAX_JSON_DEPTH`` and a body over Django's upload limits
  (``DATA_UPLOAD_MAX_MEMORY_SIZE``, ``DATA_UPLOAD_MAX_NUMBER_FIELDS``) are such errors too.
* Every other error (401, 403, 404, 405, 409) — ``{"detail": "message"}``. 409 Conflict answers
  a change the object's current state forbids: a write on a read-only subject (qualified /
  disqualified lead, inactive contact, anonymized subject), a lifecycle transition not allowed
  from the current state, deleting an object that other rows still reference.
"""

import os
import traceback
from datetime import UTC, timedelta

from django import forms
from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, RequestDataTooBig, TooManyFieldsSent
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models
from django.db.models import ProtectedError
from django.forms.utils import ErrorDict, ErrorList
from django.utils import translation
from django_filters import rest_framework as filters
from django_filters.fields import IsoDateTimeField
from django_filters.rest_framework.filterset import FILTER_FOR_DBFIELD_DEFAULTS
from django_filters.widgets import BooleanWidget
from modeltranslation.translator import translator
from rest_framework import exceptions, parsers, permissions, relations, serializers, status
from rest_framework.pagination import BasePagination
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.utils.urls import remove_query_param, replace_query_param

from common.admin import dpo_views

# ---------------------------------------------------------------------------------------------
# Pagination


class NoCountPagination(BasePagination):
    """`?page=` / `?page_size=` paging that never counts the table, with keyset links.

    One query per page: it fetches `page_size + 1` rows, and the extra row tells whether a next
    page exists. A page past the end is an empty `results` list (still 200).

    On a list ordered by its id (leads, contacts), the `next` and `previous` links also
    carry `after=` / `before=` the id at the page's edge, and a page asked for that way is read
    from the id index (keyset) instead of skipping `(page - 1) × page_size` rows: following
    the links costs the same on page 19,000 as on page 2. There, a page number alone past
    `MAX_OFFSET_PAGE` is refused with a message (it would read every row before it).
    """

    page_size = 50
    max_page_size = 500
    page_query_param = "page"
    page_size_query_param = "page_size"
    after_query_param = "after"
    before_query_param = "before"
    MAX_OFFSET_PAGE = 200

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.page_number = self._positive_int(self.page_query_param, default=1)
        size = self._positive_int(self.page_size_query_param, default=self.page_size)
        self.size = min(size, self.max_page_size)
        self.key = _id_order(queryset)
        after = self._positive_int(self.after_query_param, default=None)
        before = self._positive_int(self.before_query_param, default=None)
        if self.key and (after or before):
            rows = self._keyset_rows(queryset, after=after, before=before)
        else:
            if self.key and self.page_number > self.MAX_OFFSET_PAGE:
                raise exceptions.ValidationError(
                    {
                        self.page_query_param: [
                            f"Pages past {self.MAX_OFFSET_PAGE} are reached by following the "
                            "`next` links (they read from the index instead of skipping rows)."
                        ]
                    }
                )
            offset = (self.page_number - 1) * self.size
            rows = list(queryset[offset : offset + self.size + 1])
            self.has_next = len(rows) > self.size
            rows = rows[: self.size]
        self.edges = (rows[0].pk, rows[-1].pk) if rows and self.key else None
        return rows

    def _keyset_rows(self, queryset, *, after, before) -> list:
        field, descending = self.key
        if after is not None:
            lookup = f"{field}__lt" if descending else f"{field}__gt"
            rows = list(queryset.filter(**{lookup: after})[: self.size + 1])
            self.has_next = len(rows) > self.size
            return rows[: self.size]
        lookup = f"{field}__gt" if descending else f"{field}__lt"
        backwards = queryset.filter(**{lookup: before}).reverse()
        rows = list(backwards[: self.size])
        self.has_next = True  # the page it came back from
        return rows[::-1]

    def _positive_int(self, param: str, *, default):
        raw = self.request.query_params.get(param)
        if raw in (None, ""):
            return default
        if not (raw.isascii() and raw.isdigit()) or len(raw) > 18 or int(raw) < 1:
            raise exceptions.ValidationError({param: ["Enter a whole number from 1."]})
        return int(raw)

    def get_next_link(self) -> str | None:
        if not self.has_next:
            return None
        url = self.request.build_absolute_uri()
        url = replace_query_param(url, self.page_query_param, self.page_number + 1)
        url = remove_query_param(url, self.before_query_param)
        if self.edges:
            url = replace_query_param(url, self.after_query_param, self.edges[1])
        return url

    def get_previous_link(self) -> str | None:
        if self.page_number <= 1:
            return None
        url = self.request.build_absolute_uri()
        url = remove_query_param(url, self.after_query_param)
        if self.page_number == 2:
            url = remove_query_param(url, self.before_query_param)
            return remove_query_param(url, self.page_query_param)
        url = replace_query_param(url, self.page_query_param, self.page_number - 1)
        if self.edges:
            url = replace_query_param(url, self.before_query_param, self.edges[0])
        return url

    def get_paginated_response(self, data):
        return Response(
            {
                "next": self.get_next_link(),
                "previous": self.get_previous_link(),
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema):
        link = {"type": "string", "format": "uri", "nullable": True}
        return {
            "type": "object",
            "required": ["next", "previous", "results"],
            "properties": {"next": link, "previous": link, "results": schema},
        }

    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": self.page_query_param,
                "required": False,
                "in": "query",
                "description": "Page number, from 1.",
                "schema": {"type": "integer", "minimum": 1, "maximum": 999_999_999},
            },
            {
                "name": self.after_query_param,
                "required": False,
                "in": "query",
                "description": "Keyset: the rows after this id (the `next` link sets it).",
                "schema": {"type": "integer", "minimum": 1},
            },
            {
                "name": self.before_query_param,
                "required": False,
                "in": "query",
                "description": "Keyset: the rows before this id (the `previous` link sets it).",
                "schema": {"type": "integer", "minimum": 1},
            },
            {
                "name": self.page_size_query_param,
                "required": False,
                "in": "query",
                "description": f"Rows per page (default {self.page_size}, "
                f"at most {self.max_page_size}; larger values are capped).",
                "schema": {"type": "integer", "minimum": 1, "maximum": 999_999_999},
            },
        ]


def _id_order(queryset) -> tuple[str, bool] | None:
    """("id", descending) when the queryset is ordered by its primary key alone, else None."""
    ordering = list(queryset.query.order_by or queryset.model._meta.ordering or [])
    if len(ordering) != 1 or not isinstance(ordering[0], str):
        return None
    name = ordering[0]
    descending = name.startswith("-")
    name = name.lstrip("-")
    if name not in ("pk", "id", queryset.model._meta.pk.name):
        return None
    return "pk", descending


# ---------------------------------------------------------------------------------------------
# Parsing

# No request of this API nests deeper than a few levels ({"checks": [{...}]}); past this depth
# a body is refused before anything walks it (a deeper one would end in a RecursionError).
MAX_JSON_DEPTH = 32


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser; too deep a body is malformed input (400), never a RecursionError."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError(TOO_DEEP) from None
        if json_depth_exceeds(data, MAX_JSON_DEPTH):
            raise exceptions.ParseError(TOO_DEEP)
        return data


TOO_DEEP = f"JSON parse error - nested deeper than {MAX_JSON_DEPTH} levels."


def json_depth_exceeds(data, limit: int) -> bool:
    """Is a container in `data` nested deeper than `limit`? (Iterative: no recursion.)"""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            value = value.values()
        elif not isinstance(value, list):
            continue
        if depth > limit:
            return True
        stack.extend((item, depth + 1) for item in value if isinstance(item, dict | list))
    return False


# ---------------------------------------------------------------------------------------------
# Errors

TOO_BIG = (
    "The request body is too large, or has too many fields. Send less per request "
    "(see the limits in the API documentation)."
)


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state of the object."
    default_code = "conflict"


def validation_error_detail(exc: DjangoValidationError) -> dict[str, list[str]]:
    """A Django ValidationError as `{field: [messages]}`; field-less ones as non_field_errors."""
    if not hasattr(exc, "error_dict"):
        return {api_settings.NON_FIELD_ERRORS_KEY: exc.messages}
    return {
        api_settings.NON_FIELD_ERRORS_KEY if field == NON_FIELD_ERRORS else field: [
            message for error in errors for message in error.messages
        ]
        for field, errors in exc.error_dict.items()
    }


def _raised_by_a_parser(exc: BaseException) -> bool:
    frames = traceback.walk_tb(exc.__traceback__)
    return any(frame.f_code.co_filename.endswith(PARSER_MODULES) for frame, _ in frames)


PARSER_MODULES = (f"rest_framework{os.sep}parsers.py", f"json{os.sep}decoder.py")


def exception_handler(exc, context):
    """DRF's handler, plus the Django errors the services and the ORM raise.

    A view lists in `conflict_errors` the ValidationError subclasses, and in `conflict_codes`
    the error codes, that mean "the object's current state forbids this" (a read-only subject,
    a transition not allowed from the current state); those answer 409 instead of 400.
    """
    # Imported here: rest_framework.views reads DEFAULT_PERMISSION_CLASSES, i.e. this module.
    from rest_framework.views import exception_handler as drf_exception_handler

    view = context.get("view")
    if isinstance(exc, tuple(getattr(view, "conflict_errors", ()))) or (
        isinstance(exc, DjangoValidationError)
        and getattr(exc, "code", None) in getattr(view, "conflict_codes", ())
    ):
        exc = Conflict(" ".join(exc.messages))
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(validation_error_detail(exc))
    elif isinstance(exc, exceptions.ParseError):
        # Malformed JSON is invalid input like any other: one format for every 400.
        exc = exceptions.ValidationError({api_settings.NON_FIELD_ERRORS_KEY: [exc.detail]})
    elif isinstance(exc, RecursionError) and _raised_by_a_parser(exc):
        # A view that names DRF's own JSONParser still answers deep JSON with a 400.
        exc = exceptions.ValidationError({api_settings.NON_FIELD_ERRORS_KEY: [TOO_DEEP]})
    elif isinstance(exc, RequestDataTooBig | TooManyFieldsSent):
        # Django would answer its HTML 400 page; an API client gets the JSON format.
        exc = exceptions.ValidationError({api_settings.NON_FIELD_ERRORS_KEY: [TOO_BIG]})
    elif isinstance(exc, ProtectedError):
        exc = Conflict("This object is still referenced by other records and cannot be deleted.")
    return drf_exception_handler(exc, context)


# ---------------------------------------------------------------------------------------------
# Permissions


class ModelPermissions(permissions.DjangoModelPermissions):
    """Django model permissions, reads included (`view_<model>` for GET/HEAD/OPTIONS).

    A viewset maps its custom actions to the permissions they need in `action_permissions`,
    e.g. `{"anonymize": ["subjects.anonymize_lead"]}`; `%(app_label)s` and `%(model_name)s`
    are filled in from the viewset's model. Actions not listed need what their HTTP method needs.
    """

    perms_map = {
        **permissions.DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
    }

    def has_permission(self, request, view):
        if not hasattr(view, request.method.lower()):
            # Not offered at all (e.g. DELETE of a subject): let the view answer 405, not 403.
            return bool(request.user and request.user.is_authenticated)
        action_perms = getattr(view, "action_permissions", {}).get(getattr(view, "action", None))
        if action_perms is None:
            return super().has_permission(request, view)
        if not request.user or not request.user.is_authenticated:
            return False
        opts = self._queryset(view).model._meta
        kwargs = {"app_label": opts.app_label, "model_name": opts.model_name}
        return request.user.has_perms([perm % kwargs for perm in action_perms])


class StaffOnlyUnlessDebug(permissions.BasePermission):
    """The OpenAPI schema and the interactive docs: open in development (DEBUG), staff only in
    production, where they would map the API for anyone."""

    def has_permission(self, request, view) -> bool:
        if settings.DEBUG:
            return True
        return bool(request.user and request.user.is_authenticated and request.user.is_staff)


# ---------------------------------------------------------------------------------------------
# Serializers


MAX_ID = 2**63 - 1


class IdRelatedField(relations.PrimaryKeyRelatedField):
    """A foreign key given and shown as its integer id; an unknown id is a field error."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | str):
            self.fail("incorrect_type", data_type=type(data).__name__)
        if isinstance(data, str) and not (data.isascii() and data.isdigit()):
            self.fail("incorrect_type", data_type="str")
        if len(str(data)) > len(str(MAX_ID)) or not 0 < int(data) <= MAX_ID:
            self.fail("does_not_exist", pk_value=data)
        return super().to_internal_value(int(data))


class ModelSerializer(serializers.ModelSerializer):
    serializer_related_field = IdRelatedField


class TranslatedModelSerializer(ModelSerializer):
    """A model with django-modeltranslation fields: `name` (say) is the base, English text in
    reads and writes whatever the request's Accept-Language, and `name_nl`, `name_fr`, … are
    the translations — so an integrator's script means the same thing from any locale.

    DRF gives a nullable column of a unique constraint (`(purpose, name_nl)`) a default of
    None; a translation the client did not send is dropped instead, so a create or a PUT never
    erases it (nor the English text `name` has just set).
    """

    def to_representation(self, instance):
        with translation.override(settings.MODELTRANSLATION_DEFAULT_LANGUAGE):
            return super().to_representation(instance)

    def validate(self, attrs):
        translated = {
            field.name
            for fields in translator.get_options_for_model(self.Meta.model).all_fields.values()
            for field in fields
        }
        sent = self.initial_data.keys() if hasattr(self.initial_data, "keys") else ()
        attrs = {k: v for k, v in attrs.items() if k in sent or k not in translated}
        return super().validate(attrs)

    def save(self, **kwargs):
        with translation.override(settings.MODELTRANSLATION_DEFAULT_LANGUAGE):
            return super().save(**kwargs)


# ---------------------------------------------------------------------------------------------
# Filters


class StrictBooleanWidget(BooleanWidget):
    """Like DRF's boolean widget, but hands an unrecognised value on for the field to reject."""

    def value_from_datadict(self, data, files, name):
        raw = data.get(name)
        value = super().value_from_datadict(data, files, name)
        return raw if value is None and raw not in (None, "") else value


class StrictNullBooleanField(forms.NullBooleanField):
    def to_python(self, value):
        if value in (True, False, None, ""):
            return None if value == "" else value
        raise DjangoValidationError("Enter true or false.", code="invalid")


class BooleanFilter(filters.BooleanFilter):
    field_class = StrictNullBooleanField

    def __init__(self, *args, **kwargs):
        kwargs["widget"] = StrictBooleanWidget
        super().__init__(*args, **kwargs)


class IntegerFilter(filters.NumberFilter):
    """A number filter for integer columns: parses as an int, so `1e999999999` is a plain
    validation error instead of a Decimal that Django would expand into a billion-digit int."""

    field_class = forms.IntegerField


# PostgreSQL takes time-zone displacements up to ±15:59; Python parses up to ±23:59.
MAX_UTC_OFFSET = timedelta(hours=15, minutes=59)
OFFSET_MESSAGE = "Enter a date and time whose time-zone offset is at most ±15:59 (e.g. +02:00)."


class BoundedOffsetDateTimeField(IsoDateTimeField):
    """An ISO 8601 date-time whose offset the database can take, compared in UTC."""

    def to_python(self, value):
        moment = super().to_python(value)
        if moment is None:
            return None
        offset = moment.utcoffset()
        if offset is not None and abs(offset) > MAX_UTC_OFFSET:
            raise DjangoValidationError(OFFSET_MESSAGE, code="invalid")
        return moment.astimezone(UTC) if offset is not None else moment


class DateTimeFilter(filters.IsoDateTimeFilter):
    field_class = BoundedOffsetDateTimeField


INTEGER_FILTER_DEFAULTS = {
    field: {"filter_class": IntegerFilter}
    for field in FILTER_FOR_DBFIELD_DEFAULTS
    if issubclass(field, models.IntegerField)
}


class StrictFilterSet(filters.FilterSet):
    """A FilterSet that rejects what it does not understand instead of ignoring it.

    Unknown parameters and unparseable booleans are errors (400 in the API), so a typo in an
    API call or in a dynamic marketing list's query string can never widen the result to the
    whole table; integer columns take integers only.
    """

    FILTER_DEFAULTS = {
        **FILTER_FOR_DBFIELD_DEFAULTS,
        **INTEGER_FILTER_DEFAULTS,
        models.BooleanField: {"filter_class": BooleanFilter},
        models.DateTimeField: {"filter_class": DateTimeFilter},
    }
    passthrough_params = frozenset({"page", "page_size", "after", "before", "format"})

    def unknown_params(self) -> list[str]:
        if not self.is_bound:
            return []
        return sorted(set(self.data) - set(self.form.fields) - self.passthrough_params)

    def is_valid(self) -> bool:
        return super().is_valid() and not self.unknown_params()

    @property
    def errors(self) -> ErrorDict:
        errors = ErrorDict(self.form.errors)
        for name in self.unknown_params():
            errors[name] = ErrorList(["Unknown filter parameter."])
        return errors


def view_filter(model) -> filters.ChoiceFilter:
    """The `view=` filter: the model's named DPO views, each one QuerySet method."""
    return filters.ChoiceFilter(
        choices=[(code, label) for code, (label, _) in dpo_views(model).items()],
        method=lambda queryset, name, value: queryset.for_view(value),
        label="Data Protection view",
    )


def request_user(serializer):
    """The user of the request a serializer validates (the actor of its writes)."""
    return serializer.context["request"].user
