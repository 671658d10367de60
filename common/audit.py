"""The audit trail every consent-bearing model shares (django-simple-history).

Each history row carries the acting user (`history_user`), the change reason
(`history_change_reason`) and the channel the change came through (`history_source`).
Services stamp an instance with `stamp()` before saving; bulk paths pass the same values to
`bulk_history_create`, so single and bulk writes leave identical timeline rows.
"""

import dataclasses
import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, models, router, transaction
from django.db.models import Max
from django.db.models.deletion import Collector
from django.utils import translation
from django.utils.module_loading import import_string
from simple_history.models import HistoricalRecords
from simple_history.signals import post_create_historical_record, pre_create_historical_record


class Source(models.TextChoices):
    """How a change reached the system (shared with contact-point consent sources)."""

    INTERNAL = "internal", "Internal"
    VERBAL = "verbal", "Verbal"
    FORM = "form", "Form"
    PREFERENCE_CENTER = "preference_center", "Preference center"
    ONE_CLICK_UNSUBSCRIBE = "one_click_unsubscribe", "One-click unsubscribe"
    DOUBLE_OPT_IN = "double_opt_in", "Double opt-in"
    LOADED = "loaded", "Loaded"
    API = "api", "API"
    SYSTEM = "system", "System"
    ESP_FEEDBACK = "esp_feedback", "ESP feedback"
    GPC = "gpc", "Global Privacy Control"


@dataclass(frozen=True)
class Evidence:
    """How, why and by whom a consent-relevant change was made: one value passed to every
    audited write (like Zulip's `acting_user`), never a dozen loose keyword arguments.

    `actor` is the acting user (none for customers and the system); `description` is the
    free-text detail (a contact point's `reason_description`, a data consent's `note`);
    `captured_at` is when the consent was captured, if not now; `notice_version` None means
    "the version in force" (the service fills it in).
    """

    source: str
    reason: str = ""
    description: str = ""
    requested_by: str = ""
    actor: Any = None
    captured_at: datetime | None = None
    ip_address: str | None = None
    user_agent: str = ""
    notice_version: str | None = None

    def replace(self, **changes) -> "Evidence":
        return dataclasses.replace(self, **changes)

    @property
    def captured_by(self):
        """The actor if it is a signed-in user (an anonymous request captures nothing)."""
        actor = self.actor
        return actor if actor is not None and actor.is_authenticated else None


# Form and serializer field names that carry evidence, and the Evidence field each fills.
EVIDENCE_FIELD_NAMES = {
    "source": "source",
    "reason": "reason",
    "reason_description": "description",
    "note": "description",
    "requested_by": "requested_by",
    "captured_at": "captured_at",
    "ip_address": "ip_address",
    "user_agent": "user_agent",
    "notice_version": "notice_version",
}


def evidence_from(data: dict, *, actor, **defaults) -> tuple[Evidence, dict]:
    """Split validated form or serializer data into its Evidence and the rest.

    `defaults` are Evidence fields the data may override (e.g. `source`); a `user` key is
    the actor (test and helper call sites pass one along with the rest).
    """
    rest = dict(data)
    actor = rest.pop("user", actor)
    values = dict(defaults)
    for name, field_name in EVIDENCE_FIELD_NAMES.items():
        if name in rest:
            values[field_name] = rest.pop(name)
    return Evidence(actor=actor, **values), rest


class AuditedHistoryModel(models.Model):
    """Abstract base of every historical model: the extra `history_source` column."""

    history_source = models.CharField(max_length=32, blank=True, default="")

    class Meta:
        abstract = True


class AuditedHistoricalRecords(HistoricalRecords):
    """simple-history's descriptor plus named indexes on the historical table.

    The historical model gets its own `Meta`, so indexes cannot come from the abstract base;
    `indexes` are added to the options simple-history builds.
    """

    def __init__(self, *, indexes=(), user_db_index=True, **kwargs):
        self.extra_indexes = list(indexes)
        self.user_db_index = user_db_index  # False: no index on history_user (bulk-written)
        super().__init__(**kwargs)

    def _get_history_user_fields(self):
        fields = super()._get_history_user_fields()
        user = fields.get("history_user")
        if not self.user_db_index and isinstance(user, models.ForeignKey):
            user.db_index = False
        return fields

    def fields_included(self, model):
        # Translation columns (django-modeltranslation's `name_nl`, …) are added to a model after
        # its history model is built: the history keeps the base field only.
        fields = super().fields_included(model)
        return [field for field in fields if not hasattr(field, "translated_field")]

    def create_historical_record(self, instance, history_type, using=None):
        # On a translated model, reading `name` gives the active language's text: the history
        # row holds the base (default-language) text whatever the language of the request.
        if not _is_translated(type(instance)):
            return super().create_historical_record(instance, history_type, using)
        with translation.override(base_language()):
            return super().create_historical_record(instance, history_type, using)

    def get_meta_options(self, model):
        options = super().get_meta_options(model)
        if self.extra_indexes:
            options["indexes"] = (*options.get("indexes", ()), *self.extra_indexes)
        return options


def base_language() -> str:
    """The language of the base texts (django-modeltranslation's default language)."""
    return getattr(settings, "MODELTRANSLATION_DEFAULT_LANGUAGE", settings.LANGUAGE_CODE)


@functools.cache
def _is_translated(model) -> bool:
    return any(hasattr(field, "translated_field") for field in model._meta.concrete_fields)


def audited_history(**kwargs) -> HistoricalRecords:
    return AuditedHistoricalRecords(bases=[AuditedHistoryModel], **kwargs)


def stamp(instance, *, user=None, source: str = "", reason: str = ""):
    """Attach who / how / why to the next history row written for `instance`."""
    instance._history_user = user if user and user.is_authenticated else None
    instance._history_source = source
    instance._change_reason = reason
    return instance


def delete_audited(instance, *, user=None, source: str, reason: str = "deleted") -> None:
    """`instance.delete()`, with every row it removes (cascades included) stamped.

    The collector holds the instances whose deletion history rows simple-history writes, so
    stamping them gives each row the user, source and reason (a plain delete would stamp only
    the object itself, and cascaded rows would name nobody).
    """
    collector = Collector(using=router.db_for_write(type(instance)), origin=instance)
    collector.collect([instance])
    for objs in collector.data.values():
        for obj in objs:
            stamp(obj, user=user, source=source, reason=reason)
    collector.delete()


def history_attrs(source: str) -> dict:
    return {"history_source": source}


def _copy_source(sender, instance, history_instance, **kwargs):
    history_instance.history_source = getattr(instance, "_history_source", "") or ""


def connect():
    pre_create_historical_record.connect(_copy_source, dispatch_uid="audit_copy_source")
    post_create_historical_record.connect(_note_history, dispatch_uid="audit_note_history")


HISTORY_PARAMS = (
    "history_date",
    "history_change_reason",
    "history_type",
    "history_user_id",
    "history_source",
)


def history_params(*, now, reason: str, source: str) -> dict:
    """The history fields of a set-based system write, as `history_insert_sql` reads them:
    what the single-row path stamps on a change without a user."""
    return {
        "history_date": now,
        "history_change_reason": reason,
        "history_type": "~",
        "history_user_id": None,
        "history_source": source,
    }


def history_insert_sql(
    model, *, rows: str, quote_name, values: dict[str, str] | None = None
) -> str:
    """`INSERT INTO <model's history table> (…) SELECT … FROM <rows>` for set-based writes.

    `rows` names rows of `model`'s table (an `UPDATE … RETURNING *` CTE): every tracked field
    is copied from it. Every other history field is the SQL expression `values` gives for its
    attname (e.g. `{"history_type": "CASE WHEN w.created THEN '+' ELSE '~' END"}`), else a
    `%(<attname>)s` parameter (`history_params`), so a history field without a value fails
    instead of staying empty; one that is neither (a new history column) raises here.
    """
    history = model.history.model
    tracked = {field.attname for field in history.tracked_fields}
    values = dict(values or {})
    columns, selected = [], []
    for field in history._meta.concrete_fields:
        if field.primary_key:
            continue
        columns.append(quote_name(field.column))
        if field.attname in values:
            selected.append(values.pop(field.attname))
        elif field.attname in tracked:
            selected.append(f"{rows}.{quote_name(model._meta.get_field(field.name).column)}")
        elif field.attname in HISTORY_PARAMS:
            selected.append(f"%({field.attname})s")
        else:
            raise RuntimeError(f"no value for history column {field.column} of {model.__name__}")
    if values:
        raise RuntimeError(f"{model.__name__} history has no column(s) {', '.join(values)}")
    return (
        f"INSERT INTO {quote_name(history._meta.db_table)} ({', '.join(columns)}) "
        f"SELECT {', '.join(selected)} FROM {rows}"
    )


# The consent ledger (consent.ledger) seals history rows in the transaction that wrote them. The
# connection remembers, per history table, the lowest history id written since the last seal,
# and the ids of the rows simple-history wrote one by one; set-based paths call `history_mark`
# first (their rows are then found from the lowest id up). `history_seal()` (called by
# `sealed_atomic` services before they commit) hands them to the sealer named by
# `settings.HISTORY_SEALER`: the lower layers need not know the ledger.
_UNSEALED = "_history_unsealed"
_SINGLE = "_history_single"  # ids of the rows written one by one, per table
# A connection that writes only history the ledger does not seal never hands its ids over:
# past this many per table they are dropped (None), and the sealer seals from the lowest id up.
SINGLE_IDS_MAX = 1000
_BULK = "_history_bulk"  # a set-based path wrote history since the last seal


@dataclass(frozen=True)
class Unsealed:
    """The history a connection wrote since its last seal. `lows`: the lowest id per table;
    `ids`: the ids of the rows written one by one, per table. The sealer names the rows by
    their ids unless `bulk` (a set-based path wrote rows) or a table's ids were dropped; then
    it seals from `lows` up."""

    lows: dict[str, int]
    ids: dict[str, list[int] | None]  # None: more than SINGLE_IDS_MAX, not kept
    bulk: bool


def history_written(history_model, low_id: int, *, using: str | None = None) -> None:
    connection = connections[using or router.db_for_write(history_model)]
    unsealed = connection.__dict__.setdefault(_UNSEALED, {})
    label = history_model._meta.label_lower
    unsealed[label] = min(unsealed.get(label, low_id), low_id)


def history_mark(*models, using: str | None = None) -> None:
    """Before a set-based history INSERT: its rows get ids above today's highest."""
    for model in models:
        history = model.history.model
        highest = history._default_manager.using(using).aggregate(top=Max("history_id"))["top"]
        history_written(history, (highest or 0) + 1, using=using)
        connections[using or router.db_for_write(history)].__dict__[_BULK] = True


def history_unsealed(*, using: str = DEFAULT_DB_ALIAS) -> Unsealed:
    """Take (and forget) what the connection wrote since its last seal."""
    state = connections[using].__dict__
    return Unsealed(state.pop(_UNSEALED, {}), state.pop(_SINGLE, {}), state.pop(_BULK, False))


def history_seal(*, using: str = DEFAULT_DB_ALIAS) -> None:
    if connections[using].__dict__.get(_UNSEALED):
        import_string(settings.HISTORY_SEALER)(using=using)


def sealed_atomic(func):
    """`transaction.atomic` for audited services: the history they wrote is sealed before
    commit (the ledger's lock is taken last, so it is held only for the seal and the commit)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with transaction.atomic():
            result = func(*args, **kwargs)
            history_seal()
        return result

    return wrapper


def _note_history(sender, history_instance, using=None, **kwargs):
    history_written(sender, history_instance.pk, using=using)
    connection = connections[using or router.db_for_write(sender)]
    single = connection.__dict__.setdefault(_SINGLE, {})
    label = sender._meta.label_lower
    ids = single.setdefault(label, [])
    if ids is not None:
        if len(ids) < SINGLE_IDS_MAX:
            ids.append(history_instance.pk)
        else:
            single[label] = None
