"""Subject workflows that involve consents: editing a subject (its derived fields follow) and
qualifying a lead, with conversion to a contact that takes the lead's active consents.
"""

from dataclasses import asdict

from common.audit import Source, sealed_atomic, stamp
from consent.models import DataConsent
from consent.services.summaries import ConsentSummary, consent_summaries, subjects_refresh
from consent.webhooks.events import data_consents_changed
from subjects import services as subject_services
from subjects.models import (
    Contact,
    Lead,
    Subject,
)


@sealed_atomic
def subject_update(
    *, subject: Subject, data: dict, user=None, source: str = Source.INTERNAL, reason: str = ""
) -> Subject:
    """Edit a subject's own fields; refused for read-only subjects."""
    subject_services.lock_for_write(subject)
    subject_services.ensure_writable(subject)
    subject_services.subject_assign(subject, data, user=user)
    summary = consent_summaries(model=type(subject), ids=[subject.pk]).get(
        subject.pk, ConsentSummary()
    )
    subject_services.subject_apply_consent_summary(subject, **asdict(summary))
    stamp(subject, user=user, source=source, reason=reason or "edited")
    subject.save()
    return subject


@sealed_atomic
def lead_qualify(
    *, lead: Lead, convert: bool = False, user=None, source: str = Source.INTERNAL
) -> Contact | None:
    """Qualify a lead; with `convert`, create its contact and link the active consents to it."""
    lead = Lead.objects.select_for_update().get(pk=lead.pk)
    subject_services.ensure_writable(lead)
    contact = (
        subject_services.contact_from_lead(lead=lead, user=user, source=source) if convert else None
    )
    subject_services.lead_mark_qualified(lead=lead, contact=contact, user=user, source=source)
    if contact is not None:
        consents = list(DataConsent.objects.filter(lead=lead, state=DataConsent.State.ACTIVE))
        for consent in consents:
            consent.contact = contact
            stamp(
                consent,
                user=user,
                source=source,
                reason=f"linked to contact {contact.pk} on conversion of lead {lead.pk}",
            )
            consent.save()
        data_consents_changed(consents, action="linked")
        subjects_refresh(
            model=Contact,
            ids=[contact.pk],
            user=user,
            source=source,
            reason=f"converted from lead {lead.pk}",
        )
        contact.refresh_from_db()
    return contact
