"""Global Privacy Control (DESIGN §3.6): a browser's `Sec-GPC: 1` is a valid opt-out of tracking.

On the public pages the signal is honoured for the address a page is about: the manage page
shows the profile's tracking purposes as off, and every page that records a customer's choices
(manage, sign-up, confirmation, unsubscribe) also records a tracking opt-out with source `gpc`.
Only a change is written, so each history row with source `gpc` is one time the signal was
applied — the record asked for (fides #2232). A GET never writes: opening a page shows the
signal honoured, saving records it. The link-request form writes nothing for anyone.
"""

from datetime import date

from django.http import HttpRequest

from common.audit import Evidence, Source
from consent.models import ComplianceProfile, ContactPointConsent, Purpose
from consent.services.customer import Choice, customer_choices_record

# https://privacycg.github.io/gpc-spec/: the header is `Sec-GPC: 1`; `/.well-known/gpc.json`
# says the site honours it, and since when its handling last changed (an RFC 3339 full-date).
GPC_META_KEY = "HTTP_SEC_GPC"
LAST_UPDATE = date(2026, 12, 3)
REASON = "Global Privacy Control (Sec-GPC: 1)"

Status = ContactPointConsent.Status


def gpc_signal(request: HttpRequest) -> bool:
    """Did the browser send `Sec-GPC: 1` (the only value the specification defines)?"""
    return request.META.get(GPC_META_KEY, "").strip() == "1"


def tracking_purposes(profile: ComplianceProfile) -> list[Purpose]:
    """The profile's tracking purposes that are checked at all (a disabled one never is)."""
    return list(
        profile.purposes.filter(kind=Purpose.Kind.TRACKING)
        .exclude(consent_model=Purpose.ConsentModel.DISABLED)
        .order_by("pk")
    )


def gpc_choices(*, profile: ComplianceProfile, channel: str, value: str) -> list[Choice]:
    """The tracking opt-outs the signal still has to record for this address."""
    purposes = tracking_purposes(profile)
    opted_out = set(
        ContactPointConsent.objects.filter(
            channel=channel,
            value=value,
            purpose__in=purposes,
            topic__isnull=True,
            status=Status.OPTED_OUT,
        ).values_list("purpose_id", flat=True)
    )
    return [Choice(p, None, Status.OPTED_OUT) for p in purposes if p.pk not in opted_out]


def gpc_record(
    *,
    profile: ComplianceProfile,
    channel: str,
    value: str,
    page: str,
    ip_address: str | None,
    user_agent: str,
) -> int:
    """Record the signal as a tracking opt-out (source `gpc`); the number of records changed.

    Written like every other customer change (`customer_choices_record`): audited history rows
    with the evidence below, sealed into the consent ledger, `contact_point_consent.changed`
    webhooks after commit.
    """
    choices = gpc_choices(profile=profile, channel=channel, value=value)
    if not choices:
        return 0
    result = customer_choices_record(
        profile=profile,
        channel=channel,
        value=value,
        choices=choices,
        evidence=Evidence(
            source=Source.GPC,
            reason=REASON,
            description=(
                f"The browser sent Sec-GPC: 1 on the {page} page; honoured as an opt-out of "
                "tracking."
            ),
            ip_address=ip_address,
            user_agent=user_agent,
        ),
    )
    return result.changed
