"""The timeline in words (DESIGN §3.7): names instead of ids, labels instead of codes.

Each entry keeps its raw fields (`changes[].old/new` hold ids and codes, as the API promises)
and gains words beside them: `what`, `action_label`, `source_label`, and per change
`field_label`, `old_label`, `new_label`.
"""

from collections import defaultdict
from collections.abc import Iterable

from django.contrib.auth import get_user_model
from django.db import models

from common.audit import Source
from consent.models import Channel, ContactPointConsent, DataConsent, Purpose, Topic
from consent.reports.timeline import TimelineEntry
from subjects.models import Contact, Lead

MODELS = {
    "lead": Lead,
    "contact": Contact,
    "data_consent": DataConsent,
    "contact_point_consent": ContactPointConsent,
}
ACTIONS = {"created": "Created", "changed": "Changed", "deleted": "Deleted"}
NONE = "—"


def _field(model, name: str):
    try:
        return model._meta.get_field(name)
    except models.FieldDoesNotExist:
        return None


def _names(model, ids: set) -> dict:
    if model is get_user_model():
        return {u.pk: u.get_username() for u in model.objects.filter(pk__in=ids)}
    return {obj.pk: str(obj) for obj in model.objects.filter(pk__in=ids)}


class Words:
    """Batch look-ups of the names an entry list refers to (one query per related model)."""

    def __init__(self, entries: list[TimelineEntry]):
        wanted = defaultdict(set)
        for entry in entries:
            model = MODELS.get(entry.object_type)
            for change in entry.changes:
                field = _field(model, change.field) if model else None
                if field is not None and field.is_relation and field.many_to_one:
                    wanted[field.related_model].update(
                        v for v in (change.old, change.new) if v is not None
                    )
        self.names = {model: _names(model, ids) for model, ids in wanted.items()}
        consent_ids = {e.object_id for e in entries if e.object_type == "data_consent"}
        self.policies = dict(
            DataConsent.objects.filter(pk__in=consent_ids).values_list("pk", "policy__name")
        )
        self.purposes = dict(Purpose.objects.values_list("pk", "name"))
        self.topics = dict(Topic.objects.values_list("pk", "name"))

    def value(self, field, value) -> str:
        if value is None or value == "":
            return NONE
        if field is None:
            return str(value)
        if field.is_relation and field.many_to_one:
            name = self.names.get(field.related_model, {}).get(value)
            return name or f"{field.related_model._meta.verbose_name} (removed)"
        if field.choices:
            return str(dict(field.flatchoices).get(value, value))
        if isinstance(value, bool):
            return "Yes" if value else "No"
        return str(value)

    def what(self, entry: TimelineEntry, subject_name: str) -> str:
        if entry.object_type in ("lead", "contact"):
            return f"{entry.object_type.capitalize()} {subject_name}"
        if entry.object_type == "data_consent":
            return f"Data consent under “{self.policies.get(entry.object_id, 'a policy')}”"
        return entry.object_label

    def change(self, model, change) -> dict:
        field = _field(model, change.field) if model else None
        label = str(field.verbose_name) if field is not None else change.field
        return {
            "field": change.field,
            "old": change.old,
            "new": change.new,
            "field_label": label[:1].upper() + label[1:],
            "old_label": self.value(field, change.old),
            "new_label": self.value(field, change.new),
        }


def source_label(code: str) -> str:
    if code in Source:
        return Source(code).label
    if code in Channel:
        return Channel(code).label
    return code.replace("_", " ").capitalize() if code else NONE


def timeline_in_words(entries: Iterable[TimelineEntry], *, subject_name: str = "") -> list[dict]:
    entries = list(entries)
    words = Words(entries)
    return [
        {
            **entry.as_dict(),
            "what": words.what(entry, subject_name),
            "action_label": ACTIONS.get(entry.action, entry.action),
            "source_label": source_label(entry.source),
            "changes": [
                words.change(MODELS.get(entry.object_type), change) for change in entry.changes
            ],
        }
        for entry in entries
    ]
