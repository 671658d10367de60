"""Celery jobs of the public pages: the e-mails. Thin: each builds one link and sends one mail.

The views dispatch them through `preference_center.dispatch.send_later` (after commit, never
waiting on the broker); their arguments name the address, never a token (the token is made
here, so it never sits in the broker or in a worker's log).
"""

from celery import shared_task
from django.conf import settings

from consent.addresses import is_suppressed
from consent.models import ComplianceProfile
from consent.services.customer import address_known
from preference_center import emails, links
from preference_center.tokens import SignUpRequest


@shared_task(acks_late=True, reject_on_worker_lost=True)
def send_manage_link(
    profile_id: int, channel: str, value: str, language: str, only_if_known: bool = True
) -> bool:
    """Mail the manage-preferences link of an address we hold (link request of /preferences/).

    The page queues this job for every address asked for, known or not, and answers the same:
    whether the address is ours is decided here, in the background, so neither the answer nor
    its timing tells (issue 15 #15). `only_if_known=False` (a fresh link asked for from an
    opt-out-only page, whose link already named the address) still never mails a suppressed one.
    """
    profile = ComplianceProfile.objects.filter(pk=profile_id).first()
    if profile is None:
        return False
    if only_if_known:
        if not address_known(profile=profile, channel=channel, value=value):
            return False
    elif is_suppressed(channel, value):
        return False
    url = links.manage_url(profile=profile, channel=channel, value=value, language=language)
    emails.send(
        template="manage_link",
        profile=profile,
        to=value,
        context={"url": url, "max_age_days": settings.PREFERENCE_LINK_MAX_AGE_DAYS},
        language=language,
    )
    return True


@shared_task(acks_late=True, reject_on_worker_lost=True)
def send_sign_up_confirmation(request: dict, language: str) -> bool:
    """Mail the double opt-in confirmation link of a sign-up (`SignUpRequest.payload()`)."""
    sign_up = SignUpRequest.from_payload(request)
    profile = ComplianceProfile.objects.filter(pk=sign_up.profile_id).first()
    if profile is None:
        return False
    url = links.confirm_url(sign_up, language=language)
    emails.send(
        template="confirm_sign_up",
        profile=profile,
        to=sign_up.value,
        context={"url": url, "max_age_days": settings.PREFERENCE_CONFIRM_MAX_AGE_DAYS},
        language=language,
    )
    return True
