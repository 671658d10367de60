"""Marketing list writes and member evaluation."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.http import QueryDict

from common.audit import Source, history_attrs, stamp
from marketing_lists.models import MarketingList, MarketingListMember
from subjects.filters import AccountFilterSet, ContactFilterSet, LeadFilterSet

FILTERSETS = {
    MarketingList.MemberType.ACCOUNT: AccountFilterSet,
    MarketingList.MemberType.CONTACT: ContactFilterSet,
    MarketingList.MemberType.LEAD: LeadFilterSet,
}


def _candidates(member_type: str) -> QuerySet:
    model = MarketingList(member_type=member_type).member_model
    if member_type == MarketingList.MemberType.ACCOUNT:
        return model.objects.all()
    return model.objects.not_anonymized()  # never members of a dynamic list


def _filterset(member_type: str, query: str):
    return FILTERSETS[member_type](data=QueryDict(query), queryset=_candidates(member_type))


def query_errors(*, member_type: str, query: str) -> list[str]:
    """Why a dynamic list's query string is invalid ([] when it is fine)."""
    filterset = _filterset(member_type, query)
    if filterset.is_valid():
        return []
    return [f"{name}: {' '.join(messages)}" for name, messages in sorted(filterset.errors.items())]


def marketing_list_members(marketing_list: MarketingList) -> QuerySet:
    """The members as subjects: stored for static lists, evaluated on read for dynamic ones."""
    member_type = marketing_list.member_type
    if marketing_list.is_static:
        ids = MarketingListMember.objects.filter(list=marketing_list).values(member_type)
        return marketing_list.member_model.objects.filter(pk__in=ids)
    filterset = _filterset(member_type, marketing_list.query)
    if not filterset.is_valid():
        raise ValidationError(
            {"query": query_errors(member_type=member_type, query=marketing_list.query)}
        )
    return filterset.qs


def _validate(marketing_list: MarketingList) -> None:
    marketing_list.full_clean()
    errors = {}
    if marketing_list.is_static and marketing_list.query.strip():
        errors["query"] = "Only dynamic lists have a query; static members are added by hand."
    if not marketing_list.is_static:
        problems = query_errors(member_type=marketing_list.member_type, query=marketing_list.query)
        if problems:
            errors["query"] = problems
    if marketing_list.topic_id and marketing_list.topic.purpose_id != marketing_list.purpose_id:
        errors["topic"] = "The topic must belong to the list's purpose."
    if errors:
        raise ValidationError(errors)


def marketing_list_validate(*, marketing_list: MarketingList) -> None:
    """Every check of marketing_list_save on `marketing_list` as it would be saved."""
    if marketing_list.pk:
        stored = MarketingList.objects.get(pk=marketing_list.pk)
        if stored.member_type != marketing_list.member_type and stored.members.exists():
            raise ValidationError({"member_type": "Remove the members before changing type."})
    _validate(marketing_list)


@transaction.atomic
def marketing_list_save(
    *, marketing_list: MarketingList, user=None, source: str = Source.INTERNAL
) -> MarketingList:
    marketing_list_validate(marketing_list=marketing_list)
    stamp(
        marketing_list,
        user=user,
        source=source,
        reason="edited" if marketing_list.pk else "created",
    )
    marketing_list.save()
    return marketing_list


@transaction.atomic
def marketing_list_members_change(
    *,
    marketing_list: MarketingList,
    add: list[int] = (),
    remove: list[int] = (),
    user=None,
    source: str = Source.INTERNAL,
) -> dict[str, int]:
    """Add and remove static members by subject id; unknown ids are refused, nothing written."""
    if not marketing_list.is_static:
        raise ValidationError("Members of a dynamic list come from its query; edit the query.")
    field = marketing_list.member_type
    model = marketing_list.member_model
    add, remove = sorted(set(add)), sorted(set(remove))
    known = set(model.objects.filter(pk__in=add).values_list("pk", flat=True))
    missing = [pk for pk in add if pk not in known]
    if missing:
        raise ValidationError({"add": [f"No {field} with id {pk}." for pk in missing[:20]]})
    current = MarketingListMember.objects.filter(list=marketing_list)
    present = set(current.filter(**{f"{field}__in": add}).values_list(field, flat=True))
    new_members = MarketingListMember.objects.bulk_create(
        MarketingListMember(list=marketing_list, **{f"{field}_id": pk})
        for pk in add
        if pk not in present
    )
    MarketingListMember.history.bulk_history_create(
        new_members,
        default_user=user if user and user.is_authenticated else None,
        default_change_reason="member added",
        custom_historical_attrs=history_attrs(source),
    )
    removed = 0
    for member in current.filter(**{f"{field}__in": remove}):
        stamp(member, user=user, source=source, reason="member removed")
        member.delete()
        removed += 1
    return {"added": len(new_members), "removed": removed}
