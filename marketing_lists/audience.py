"""The audience of a marketing list (DESIGN.md §3.5).

members → their address for the channel → the decision of §3.4 → deduplicated by address →
sendable recipients, plus every excluded member with its reason.

One statement (`consent.decision.stream.decide_members`) joins every member to the facts of its
address and streams them from a server-side cursor ordered by address, so members sharing an
address arrive together and deduplication only remembers the previous address: memory stays flat.
"""

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db.models import BooleanField, ExpressionWrapper, F, QuerySet
from django.db.models.functions import Lower

from consent.decision.rules import SUBJECT_CHANNEL_FIELD
from consent.decision.stream import decide_members
from consent.models import Channel, Purpose, Topic
from marketing_lists.models import MarketingList
from marketing_lists.services import marketing_list_members
from subjects.models import Contact

CHUNK_SIZE = 5000
NO_ADDRESS = "no_address"
INACTIVE = "inactive"


@dataclass(frozen=True)
class AudienceRow:
    member_type: str
    member_id: int
    address: str | None
    allowed: bool
    reason: str


@dataclass(frozen=True)
class AudienceRequest:
    marketing_list: MarketingList
    channel: str
    purpose: Purpose
    topic: Topic | None = None


def audience_request(
    *, marketing_list: MarketingList, channel, purpose, topic=None, profile=None
) -> AudienceRequest:
    """Validated parameters: a field error for each bad one."""
    errors = {}
    if channel not in Channel.values:
        errors["channel"] = f"Choose one of {', '.join(Channel.values)}."
    purpose_obj = Purpose.objects.select_related("profile").filter(pk=_int(purpose)).first()
    if purpose_obj is None:
        errors["purpose"] = "Unknown purpose."
    topic_obj = None
    if topic not in (None, ""):
        topic_obj = Topic.objects.filter(pk=_int(topic)).first()
        if topic_obj is None or (purpose_obj and topic_obj.purpose_id != purpose_obj.pk):
            errors["topic"] = "Unknown topic, or a topic of another purpose."
    if profile not in (None, "") and purpose_obj and _int(profile) != purpose_obj.profile_id:
        errors["profile"] = "The purpose belongs to another compliance profile."
    if errors:
        raise ValidationError(errors)
    return AudienceRequest(marketing_list, channel, purpose_obj, topic_obj)


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _people(marketing_list: MarketingList) -> QuerySet:
    """The people behind the members: an account list reaches the account's contacts."""
    members = marketing_list_members(marketing_list)
    if marketing_list.member_type == MarketingList.MemberType.ACCOUNT:
        return Contact.objects.filter(account__in=members)
    return members


def _members(request: AudienceRequest) -> QuerySet:
    """(id, address key, active) per non-anonymized person: the address normalized as stored."""
    people = _people(request.marketing_list).not_anonymized()
    address_field = SUBJECT_CHANNEL_FIELD[request.channel]
    key = Lower("email") if address_field == "email" else F("phone")
    is_active = ExpressionWrapper(people.ACTIVE, output_field=BooleanField())
    return people.annotate(address_key=key, is_active=is_active).values_list(
        "pk", "address_key", "is_active"
    )


def _member_tuples(request: AudienceRequest) -> Iterator[tuple]:
    """(member type, id, address, allowed, reason): one per sendable address and one per
    excluded member, in address order."""
    member_type = (
        "contact"
        if request.marketing_list.member_type == "account"
        else request.marketing_list.member_type
    )
    if request.channel not in SUBJECT_CHANNEL_FIELD:  # custom channels: no subject address
        people = _people(request.marketing_list).not_anonymized().order_by("pk")
        for pk in people.values_list("pk", flat=True).iterator(chunk_size=CHUNK_SIZE):
            yield (member_type, pk, None, False, NO_ADDRESS)
        return
    batches = decide_members(
        _members(request), channel=request.channel, purpose=request.purpose, topic=request.topic
    )
    previous_sent = None
    for batch in batches:
        for pk, address, active, allowed, reason in batch:
            if address is None:
                yield (member_type, pk, None, False, NO_ADDRESS)
            elif not active:
                yield (member_type, pk, address, False, INACTIVE)
            elif not allowed:
                yield (member_type, pk, address, False, reason)
            elif address != previous_sent:  # members sharing an address arrive together
                previous_sent = address
                yield (member_type, pk, address, True, reason)


def audience_rows(request: AudienceRequest) -> Iterator[AudienceRow]:
    """One row per sendable address and one per excluded member."""
    for row in _member_tuples(request):
        yield AudienceRow(*row)


def audience_summary(rows: Iterable[AudienceRow]) -> dict:
    """Counts: sendable recipients and excluded members per reason."""
    excluded: Counter = Counter()
    recipients = 0
    for row in rows:
        if row.allowed:
            recipients += 1
        else:
            excluded[row.reason] += 1
    return {"recipients": recipients, "excluded": dict(sorted(excluded.items()))}


CSV_HEADER = ["member_type", "member_id", "address", "allowed", "reason"]


def audience_csv_rows(request: AudienceRequest) -> Iterator[list]:
    for member_type, pk, address, allowed, reason in _member_tuples(request):
        yield [member_type, pk, address or "", "true" if allowed else "false", reason]
