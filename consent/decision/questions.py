"""Questions: the validated purpose / topic / profile of a check, shared by every path.

The catalog fetches the purposes (with their profiles) and topics the checks name up front, so
10,000 checks naming a few purposes validate against a handful of rows.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import models

from common.prepared import PreparedQuery
from consent.addresses import field_error
from consent.decision.rules import RecordKey
from consent.models import (
    ComplianceProfile,
    Purpose,
    Topic,
)


class Question:
    """What a check asks, apart from the address: the purpose, the topic, the profile's tracking
    purpose and the records the answer reads. One instance serves every check asking the same."""

    __slots__ = ("purpose", "purpose_ids", "record_keys", "topic", "topic_ids", "tracking")

    def __init__(self, purpose: Purpose, topic: Topic | None, tracking: Purpose | None):
        self.purpose = purpose
        self.topic = topic
        self.tracking = tracking  # the profile's tracking purpose, if it has one
        keys = [(purpose.pk, None)]
        if topic is not None:
            keys.append((purpose.pk, topic.pk))
        if tracking is not None:
            keys.append((tracking.pk, None))
        self.record_keys: tuple[RecordKey, ...] = tuple(keys)
        self.purpose_ids = {purpose.pk} | ({tracking.pk} if tracking else set())
        self.topic_ids = {topic.pk} if topic else set()


@dataclass(frozen=True)
class Catalog:
    """The purposes (with profiles) and topics the questions name, fetched up front."""

    purposes: dict[int, Purpose]
    tracking_by_profile: dict[int, Purpose]
    topics: dict[int, Topic]
    asked: dict[tuple, Question] = field(default_factory=dict)  # the questions, by their ids

    @classmethod
    def fetch(cls, purpose_refs: Iterable, topic_refs: Iterable) -> "Catalog":
        """Two queries at most: the purposes of every profile involved, and the topics."""
        purpose_ids = ids_asked(purpose_refs, Purpose)
        topic_ids = ids_asked(topic_refs, Topic)
        purposes = _catalog_purposes(purpose_ids)
        topics = _instances(Topic, _CATALOG_TOPICS.rows(topic_ids)) if topic_ids else []
        return cls.of(purposes, topics)

    @classmethod
    def of(cls, purposes: list[Purpose], topics: list[Topic]) -> "Catalog":
        """The catalog of these purposes (each profile's, with `profile` cached), in id order,
        and topics."""
        tracking_by_profile: dict[int, Purpose] = {}
        for purpose in purposes:
            if purpose.kind == Purpose.Kind.TRACKING:
                tracking_by_profile.setdefault(purpose.profile_id, purpose)
        return cls(
            purposes={purpose.pk: purpose for purpose in purposes},
            tracking_by_profile=tracking_by_profile,
            topics={topic.pk: topic for topic in topics},
        )

    def question(self, purpose, topic=None, profile=None) -> Question:
        """The validated question; field errors for unknown or mismatched ids. Asked again with
        the same plain ids, the same instance comes back (10,000 checks name a few purposes)."""
        key = (_ref(purpose), _ref(topic), _ref(profile))
        try:
            return self.asked[key]
        except (KeyError, TypeError):  # TypeError: an unhashable id, refused below
            pass
        if purpose is None:
            raise field_error("purpose", "This field is required.", "required")
        purpose = _lookup(self.purposes, purpose, Purpose, "purpose")
        topic = None if topic is None else _lookup(self.topics, topic, Topic, "topic")
        if profile is not None and _pk(profile, ComplianceProfile, "profile") != purpose.profile_id:
            raise field_error("profile", "The purpose belongs to another compliance profile.")
        if topic is not None and topic.purpose_id != purpose.pk:
            raise field_error("topic", "This topic belongs to another purpose.")
        question = Question(purpose, topic, self.tracking_by_profile.get(purpose.profile_id))
        if all(type(ref) in _PLAIN_REFS for ref in key):
            self.asked[key] = question
        return question


def _columns(model) -> list[str]:
    return [f.attname for f in model._meta.concrete_fields]


def _instances(model, rows: Iterable[tuple]) -> list:
    return [model.from_db("default", _columns(model), row) for row in rows]


_PURPOSE_COLUMNS = len(Purpose._meta.concrete_fields)


# The purposes of every profile involved, each with its profile (a select_related, compiled
# once: see common.prepared), and the topics asked about. `rewrite(False)`: every column as
# stored, in this order, whatever the active language (modeltranslation would otherwise rewrite
# `name` to the active language's column, so the SQL would differ from one request to the next).
_CATALOG_PURPOSES = PreparedQuery(
    lambda purpose_ids: (
        Purpose.objects.rewrite(False)
        .filter(profile__in=ComplianceProfile.objects.filter(purposes__in=purpose_ids))
        .order_by("pk")
        .values_list(
            *_columns(Purpose), *(f"profile__{column}" for column in _columns(ComplianceProfile))
        )
    )
)


_CATALOG_TOPICS = PreparedQuery(
    lambda topic_ids: (
        Topic.objects.rewrite(False)
        .filter(pk__in=topic_ids)
        .order_by()
        .values_list(*_columns(Topic))
    )
)


def _catalog_purposes(purpose_ids: set[int]) -> list[Purpose]:
    profiles: dict[int, ComplianceProfile] = {}
    purposes = []
    for row in _CATALOG_PURPOSES.rows(purpose_ids):
        purpose = Purpose.from_db("default", _columns(Purpose), row[:_PURPOSE_COLUMNS])
        profile_row = row[_PURPOSE_COLUMNS:]
        profile = profiles.get(profile_row[0])
        if profile is None:
            profile = profiles[profile_row[0]] = ComplianceProfile.from_db(
                "default", _columns(ComplianceProfile), profile_row
            )
        Purpose.profile.field.set_cached_value(purpose, profile)
        purposes.append(purpose)
    return purposes


_PLAIN_REFS = (type(None), int, str)


# Ids the database can hold (bigint): others are unknown, never sent (OverflowError).
_MIN_ID, _MAX_ID = -(2**63), 2**63 - 1


def _ref(value):
    """A hashable stand-in for an id given as int, str or None (True and 1 kept apart)."""
    return value if type(value) in _PLAIN_REFS else ("other", id(value))


def _distinct(refs: Iterable) -> Iterable:
    """The refs without repeats (10,000 checks name a few purposes)."""
    return {_ref(ref): ref for ref in refs}.values()


def _pk(value, model, name: str) -> int:
    if isinstance(value, model):
        return value.pk
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdecimal():
        return int(value)
    raise field_error(name, f"Enter a {model._meta.verbose_name} id.")


def ids_asked(refs: Iterable, model) -> set[int]:
    """The ids among `refs` worth fetching (instances, ints, digit strings in bigint range)."""
    ids = {_pk_or_none(ref, model) for ref in _distinct(refs)}
    ids.discard(None)
    return ids


def _pk_or_none(value, model) -> int | None:
    """The id to fetch, or None: nothing to fetch (not an id, or none the database can hold)."""
    try:
        pk = None if value is None else _pk(value, model, "")
    except ValidationError:
        return None
    return pk if pk is not None and _MIN_ID <= pk <= _MAX_ID else None


def _lookup(objects: dict[int, models.Model], value, model, name: str):
    try:
        return objects[_pk(value, model, name)]
    except KeyError:
        raise field_error(name, f"Unknown {model._meta.verbose_name}.") from None
