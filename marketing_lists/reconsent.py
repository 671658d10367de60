"""A static list for a re-consent mail (DESIGN §3.9): the contacts or leads holding an address
whose opt-in was given under a notice older than its profile's latest material notice.

Lives here, not in consent: marketing_lists builds on consent, never the other way round. The
mail's preference-center link re-confirms: saving the same opt-in again records the profile's
current notice version, which takes the address off the re-consent list.
"""

from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Lower

from common.audit import Source
from consent.models import Channel, ComplianceProfile, ContactPointConsent
from marketing_lists.models import MarketingList
from marketing_lists.services import marketing_list_members_change, marketing_list_save

PHONE_CHANNELS = (Channel.SMS, Channel.VOICE)


def reconsent_subjects(*, profile: ComplianceProfile, purpose=None, member_type: str):
    """The non-anonymized contacts or leads holding an outdated opted-in address."""
    outdated = ContactPointConsent.objects.outdated(profile, purpose=purpose)
    emails = outdated.filter(channel=Channel.EMAIL).values("value")
    phones = outdated.filter(channel__in=PHONE_CHANNELS).values("value")
    model = MarketingList(member_type=member_type).member_model
    return (
        model.objects.not_anonymized()
        .annotate(email_key=Lower("email"))
        .filter(Q(email_key__in=emails) | Q(phone__in=phones))
    )


@transaction.atomic
def marketing_list_from_reconsent(
    *,
    profile: ComplianceProfile,
    purpose=None,
    member_type: str = MarketingList.MemberType.CONTACT,
    name: str = "",
    user=None,
    source: str = Source.INTERNAL,
) -> tuple[MarketingList, int]:
    """A new static list of the re-consent candidates: `(list, members added)`."""
    if member_type == MarketingList.MemberType.ACCOUNT:
        member_type = MarketingList.MemberType.CONTACT
    scope = f" – {purpose.name}" if purpose is not None else ""
    marketing_list = marketing_list_save(
        marketing_list=MarketingList(
            name=name or f"Re-consent: {profile.name}{scope} (notice {profile.notice_version})",
            list_type=MarketingList.ListType.STATIC,
            member_type=member_type,
            purpose=purpose,
        ),
        user=user,
        source=source,
    )
    ids = list(
        reconsent_subjects(profile=profile, purpose=purpose, member_type=member_type)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    counts = marketing_list_members_change(
        marketing_list=marketing_list, add=ids, user=user, source=source
    )
    return marketing_list, counts["added"]
