"""Questions: the validated purpose / topic / profile of a check, shared by every path.

The catalog fetches the purposes (with their profiles) and topics the checks name up front, so
10,000 checks naming a few purposes validate against a handful of rows. With
CONSENT_CATALOG_CACHE (the default) each process keeps the whole catalog — every profile,
purpose, topic and the notice versions rule 10a reads — and a check only reads the catalog
stamp's token (one primary-key row, consent.models.catalog) to know it is still current.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, models

from common.prepared import PreparedQuery
from consent.addresses import field_error
from consent.decision.rules import RecordKey, current_notices
from consent.models import (
    CatalogStamp,
    ComplianceProfile,
    Notice,
    Purpose,
    Topic,
)
from consent.models.catalog import STAMP_ID


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
    # Rule 10a's notice versions per profile (see `current_notices`), when the catalog holds
    # them (the cached catalog); None: ask the database.
    notice_versions: dict[int, frozenset[str]] | None = None

    @classmethod
    def fetch(cls, purpose_refs: Iterable, topic_refs: Iterable) -> "Catalog":
        """The catalog for these checks: the process's cached catalog if its stamp is current
        (one query), else two queries: the purposes of every profile involved, and the topics."""
        if settings.CONSENT_CATALOG_CACHE:
            return cached_catalog()
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

    def current_notices(self, purposes: Iterable[Purpose | None]) -> dict[int, frozenset[str]]:
        """Rule 10a's facts for these purposes (`consent.decision.rules.current_notices`),
        from the catalog when it holds them."""
        if self.notice_versions is None:
            return current_notices(purposes)
        return {
            purpose.pk: self.notice_versions[purpose.profile_id]
            for purpose in purposes
            if purpose
            and purpose.require_current_notice
            and purpose.profile_id in self.notice_versions
        }

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


_UNREAD = object()


class _CachedCatalog:
    """The process's catalog and the stamp token it was loaded under, as one tuple: read and
    replaced in one step, so a thread never pairs one catalog with another's token."""

    state: tuple[object, Catalog | None] = (object(), None)  # never equal to a stored token


def cached_catalog(token=_UNREAD) -> Catalog:
    """The whole catalog, reloaded only when the stamp's token has changed: one query (none
    when the caller read the token with its own statement, as the single check does).

    The token is read before the rows, so a catalog is never older than its token; a change
    committed in between only makes the next check reload. Inside a transaction that changed
    the configuration the check sees that transaction's own catalog, as the database does.
    """
    if token is _UNREAD:
        token = stamp_token()
    cached_token, cached = _CachedCatalog.state
    if cached is not None and cached_token == token:
        return cached
    catalog = _load_catalog()
    _CachedCatalog.state = (token, catalog)
    return catalog


def peek_cached_catalog() -> tuple[object, Catalog | None]:
    """The process's catalog and the token it was loaded under, without asking the database:
    a caller that reads the stamp's token in a statement of its own compares the two (the
    single check, `consent.decision.single`)."""
    return _CachedCatalog.state


def forget_cached_catalog() -> None:
    """Drop this process's catalog (tests)."""
    _CachedCatalog.state = (object(), None)


def stamp_token():
    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {qn('token')} FROM {qn(CatalogStamp._meta.db_table)} WHERE {qn('id')} = %s",
            [STAMP_ID],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def _load_catalog() -> Catalog:
    """Every profile's purposes (with the profile), every topic and the notice versions."""
    purposes = list(Purpose.objects.rewrite(False).select_related("profile").order_by("pk"))
    topics = list(Topic.objects.rewrite(False).order_by("pk"))
    profile_ids = {purpose.profile_id for purpose in purposes}
    versions = Notice.objects.current_versions(profile_ids=profile_ids)
    catalog = Catalog.of(purposes, topics)
    return Catalog(
        purposes=catalog.purposes,
        tracking_by_profile=catalog.tracking_by_profile,
        topics=catalog.topics,
        notice_versions={
            owner_id: frozenset(current)
            for (kind, owner_id), current in versions.items()
            if kind == "profile"
        },
    )


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
