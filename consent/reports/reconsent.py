"""Re-consent (DESIGN §3.9): opt-ins and data consents given under an older notice, by address.

After a material notice is published, every opt-in of its profile and every active consent of
its policy given under an earlier version is outdated. The admin page "Consents given under an
older notice" and `GET /api/v1/reconsent/` list them (paginated or as CSV); marketing_lists
turns the opt-ins into a static list for a re-consent mail.
"""

from collections.abc import Iterator

from django.db.models import F, QuerySet
from django.db.models.functions import Coalesce

from consent.models import ComplianceProfile, ContactPointConsent, DataConsent, DataPolicy, Notice

CONTACT_POINT_HEADER = [
    "id",
    "channel",
    "address",
    "purpose",
    "topic",
    "notice_version",
    "current_version",
    "captured_at",
    "source",
]
DATA_CONSENT_HEADER = [
    "id",
    "address",
    "lead",
    "contact",
    "policy",
    "notice_version",
    "current_version",
    "given_at",
    "source",
]


def outdated_opt_ins(profile: ComplianceProfile, *, purpose=None) -> QuerySet:
    """The profile's outdated opt-ins (optionally of one purpose), ordered by address."""
    return (
        ContactPointConsent.objects.outdated(profile, purpose=purpose)
        .select_related("purpose", "topic")
        .order_by("channel", "value", "purpose_id", "topic_id", "id")
    )


def outdated_data_consents(policy: DataPolicy, *, user) -> QuerySet:
    """The policy's outdated active consents the user may see, ordered by the subject's e-mail."""
    return (
        DataConsent.objects.outdated(policy)
        .visible_to(user)
        .select_related("policy", "lead", "contact")
        .annotate(address=Coalesce(F("contact__email"), F("lead__email")))
        .order_by(F("address").asc(nulls_last=True), "id")
    )


def current_version(owner) -> str:
    return owner.notice_version


def contact_point_row(record: ContactPointConsent, current: str) -> dict:
    return {
        "id": record.pk,
        "channel": record.channel,
        "address": record.value,
        "purpose": record.purpose.name,
        "topic": record.topic.name if record.topic_id else "",
        "notice_version": record.notice_version,
        "current_version": current,
        "captured_at": record.captured_at,
        "source": record.source,
    }


def data_consent_row(consent: DataConsent, current: str) -> dict:
    return {
        "id": consent.pk,
        "address": consent.address or "",
        "lead": consent.lead_id,
        "contact": consent.contact_id,
        "policy": consent.policy.name,
        "notice_version": consent.notice_version,
        "current_version": current,
        "given_at": consent.given_at,
        "source": consent.source,
    }


def reconsent_csv_rows(
    *, profile: ComplianceProfile | None = None, purpose=None, policy=None, user=None
) -> tuple[list[str], Iterator[list]]:
    """The CSV header and rows: a profile's outdated opt-ins, or a policy's outdated consents."""
    if profile is not None:
        header, current = CONTACT_POINT_HEADER, current_version(profile)
        rows = (
            contact_point_row(record, current)
            for record in outdated_opt_ins(profile, purpose=purpose).iterator(chunk_size=2000)
        )
    else:
        header, current = DATA_CONSENT_HEADER, current_version(policy)
        rows = (
            data_consent_row(consent, current)
            for consent in outdated_data_consents(policy, user=user).iterator(chunk_size=2000)
        )
    return header, ([row[name] for name in header] for row in rows)


def latest_material_notice(*, profile=None, policy=None) -> Notice | None:
    owned = Notice.objects.published().filter(material=True)
    owned = owned.filter(policy=policy) if policy is not None else owned.filter(profile=profile)
    return owned.order_by("-published_at", "-id").first()
