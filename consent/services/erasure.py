"""Erasure (DESIGN §3.1, GDPR Art. 17): anonymizing a subject and erasing its addresses.

The only rows that leave no trace are the ones erasure must remove; where an erased address had
opted out, a suppression (a keyed hash) keeps it from being opted in again.
"""

from collections import Counter
from collections.abc import Iterable

from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from common.audit import (
    Source,
    sealed_atomic,
    stamp,
)
from consent.addresses import normalize_address, normalized_address_hash
from consent.ledger.chain import ledger_release
from consent.models import (
    Channel,
    ConsentLoad,
    ConsentLoadChunk,
    ContactPointConsent,
    DataConsent,
    DataSubjectRequest,
    ErasureRecord,
    Suppression,
)
from consent.services.contact_points import Status, lock_address, suppress
from consent.services.summaries import subjects_refresh
from consent.webhooks.events import (
    data_consents_changed,
    deliveries_scrub_address,
    subject_anonymized,
)
from subjects import services as subject_services
from subjects.models import (
    ANONYMIZED_NAME,
    Contact,
    Lead,
    Subject,
)

# The contact-point channels a subject's address field is reachable on.
SUBJECT_ADDRESS_CHANNELS = {"email": (Channel.EMAIL,), "phone": (Channel.SMS, Channel.VOICE)}


def _stored_form(channel: str, value: str) -> str:
    # A legacy address that no longer validates must not stop an erasure: fall back to the
    # trimmed form (lower-cased for email, as contact points store it).
    try:
        return normalize_address(channel, value)
    except ValidationError:
        value = value.strip()
        return value.lower() if channel == Channel.EMAIL else value


def _still_used(field: str, value: str) -> bool:
    """Does a non-anonymized lead or contact still hold this email / phone?"""
    lookup = "with_email" if field == "email" else "with_phone"
    return any(
        getattr(model.objects.not_anonymized(), lookup)(value).exists() for model in (Lead, Contact)
    )


def _scrub_admin_log(record_ids: list[int]) -> None:
    # The admin log keeps each changed record's __str__, which names the address.
    LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(ContactPointConsent),
        object_id__in=[str(pk) for pk in record_ids],
    ).update(object_repr=ANONYMIZED_NAME, change_message="")


def _erase_address(*, channel: str, value: str, user, source: str) -> tuple[int, int]:
    """Delete an address's records and their history; an opt-out becomes a suppression first."""
    lock_address(channel, value)
    deliveries_scrub_address(channel=channel, value_hash=normalized_address_hash(value))
    records = ContactPointConsent.objects.for_address(channel, value)
    statuses = dict(records.values_list("pk", "status"))
    if not statuses:
        return 0, 0
    suppressed = False
    if Status.OPTED_OUT in statuses.values():
        _, suppressed = suppress(
            channel=channel,
            value_hash=normalized_address_hash(value),
            reason=Suppression.ERASURE_REASON,
            user=user,
            source=source,
        )
    records.delete()
    # After the delete: simple-history has just written a deletion row naming the address too.
    erased = ContactPointConsent.history.filter(channel=channel, value=value)
    # The ledger records which sealed rows erasure removes (they are not out-of-band deletes).
    ledger_release(
        history_model=erased.model, history_ids=erased.values_list("history_id", flat=True)
    )
    erased.delete()
    _scrub_admin_log(list(statuses))
    return len(statuses), int(suppressed)


def contact_points_erase_for(
    *,
    emails: Iterable[str] = (),
    phones: Iterable[str] = (),
    user=None,
    source: str = Source.INTERNAL,
) -> dict[str, int]:
    """Erase the contact-point consents of an anonymized subject's addresses (DESIGN §3.1):
    every email and phone it ever held, current or past.

    Call it once the subject itself is anonymized. An address another non-anonymized lead or
    contact still uses keeps its records. Otherwise its records and their history rows are
    deleted, and where one was an opt-out a suppression (keyed hash only) is created first, so
    a later import or form can never opt the address back in silently.
    """
    counts = Counter(
        contact_point_consents_deleted=0, suppressions_added=0, contact_point_addresses_kept=0
    )
    for field, values in (("email", emails), ("phone", phones)):
        for value in sorted({value for value in values if value}):
            if _still_used(field, value):
                counts["contact_point_addresses_kept"] += 1
                continue
            for channel in SUBJECT_ADDRESS_CHANNELS[field]:
                deleted, suppressed = _erase_address(
                    channel=channel, value=_stored_form(channel, value), user=user, source=source
                )
                counts["contact_point_consents_deleted"] += deleted
                counts["suppressions_added"] += suppressed
    return dict(counts)


def addresses_ever_held(subject: Subject) -> tuple[set[str], set[str]]:
    """(emails, phones) the subject holds or held: its row and every history row of it."""
    rows = type(subject).history.filter(id=subject.pk).values_list("email", "phone")
    emails = {subject.email, *(email for email, _ in rows)}
    phones = {subject.phone, *(phone for _, phone in rows)}
    return emails - {None, ""}, phones - {None, ""}


def consent_load_files_erase() -> int:
    """Erasure (DESIGN §3.1): delete every stored load file a run is not reading now.

    An erased person's address may be in any of them, in any spelling (`06 …` for `+316…`),
    so they are deleted rather than searched: previews are uploaded again, and a load still
    queued fails with a message saying so. A running load deletes its file when it finishes
    (the sweep fails it if its worker died).
    """
    idle = ConsentLoad.objects.filter(
        status__in=[ConsentLoad.Status.PENDING, ConsentLoad.Status.PREVIEWED], chunks__isnull=False
    ).distinct()
    with transaction.atomic():
        loads = list(ConsentLoad.objects.select_for_update().filter(pk__in=idle.values("pk")))
        for load in loads:
            if load.status == ConsentLoad.Status.PENDING:
                load.status, load.finished_at = ConsentLoad.Status.FAILED, timezone.now()
                load.message = "Its file was deleted by an erasure (GDPR Art. 17); upload it again."
                load.save(update_fields=["status", "message", "finished_at"])
        deleted, _ = ConsentLoadChunk.objects.filter(load__in=loads).delete()
    return deleted


REDACTED = "[redacted on anonymization]"


def _scrub_requests(subject: Subject) -> None:
    """The subject's data subject requests keep their dates and kinds, not who asked, the notes
    or the access reports sent (each holds the person's data), nor in their history rows."""
    requests = DataSubjectRequest.objects.for_subject(subject)
    ids = list(requests.values_list("pk", flat=True))
    requests.update(requester=ANONYMIZED_NAME, notes="", access_report=None)
    DataSubjectRequest.history.filter(id__in=ids).update(requester=ANONYMIZED_NAME, notes="")


# Reasons the services write themselves; any other reason is free text and may hold PII.
SERVICE_REASONS = ("consent given", "edited", "cancelled", "reactivated", "expired", "anonymized")


@sealed_atomic
def subject_anonymize(
    *, subject: Subject, user=None, source: str = Source.INTERNAL
) -> ErasureRecord:
    """Irreversibly erase a subject's PII (GDPR Art. 17), keeping a PII-free erasure record."""
    model = type(subject)
    subject = model.objects.select_for_update().get(pk=subject.pk)
    if subject.is_anonymized:
        raise ValidationError("This subject is already anonymized.", code="anonymized")
    # For the contact points, before the scrub: every address it ever held (after a change
    # A → B, A's records, history and opt-outs must go too).
    emails, phones = addresses_ever_held(subject)
    field = subject.subject_type
    other = "contact" if field == "lead" else "lead"
    unlinked = anonymized = 0
    scrubbed_ids, changed = [], {"anonymized": [], "unlinked": []}
    for consent in DataConsent.objects.filter(**{field: subject}).select_related(other):
        other_subject = getattr(consent, other)
        stamp(consent, user=user, source=source, reason="anonymized")
        if other_subject is not None and not other_subject.is_anonymized:
            # The consent is also the other subject's (after a conversion): keep it for them.
            setattr(consent, field, None)
            unlinked += 1
            changed["unlinked"].append(consent)
        else:
            consent.state = DataConsent.State.INACTIVE
            consent.status_reason = DataConsent.Reason.ANONYMIZED
            consent.note, consent.ip_address, consent.user_agent = "", None, ""
            scrubbed_ids.append(consent.pk)
            anonymized += 1
            changed["anonymized"].append(consent)
        consent.save()
    for action, consents in changed.items():
        data_consents_changed(consents, action=action)
    # Free-text evidence may name the person; the history keeps only the service reasons.
    DataConsent.history.filter(id__in=scrubbed_ids).update(note="", ip_address=None, user_agent="")
    DataConsent.history.filter(id__in=scrubbed_ids).exclude(
        history_change_reason__in=SERVICE_REASONS
    ).update(history_change_reason=REDACTED)
    subject_services.subject_scrub(subject=subject, user=user, source=source)
    subjects_refresh(model=model, ids=[subject.pk], user=user, source=source, reason="anonymized")
    contact_point_counts = contact_points_erase_for(
        emails=emails, phones=phones, user=user, source=source
    )
    contact_point_counts["load_file_chunks_deleted"] = consent_load_files_erase()
    _scrub_requests(subject)
    record = ErasureRecord.objects.create(
        subject_type=field,
        subject_id=subject.pk,
        erased_by=user if user and user.is_authenticated else None,
        counts={
            "data_consents_anonymized": anonymized,
            "data_consents_unlinked": unlinked,
            **contact_point_counts,
        },
    )
    subject_anonymized(
        subject_type=field,
        subject_id=subject.pk,
        erasure_record=record,
        addresses=_address_hashes(emails=emails, phones=phones),
    )
    return record


def _address_hashes(*, emails, phones) -> list[tuple[str, str]]:
    """(channel, keyed hash) of each address the subject ever held, for `subject.anonymized`."""
    return [
        (channel, normalized_address_hash(_stored_form(channel, value)))
        for field, values in (("email", emails), ("phone", phones))
        for value in values
        if value
        for channel in SUBJECT_ADDRESS_CHANNELS[field]
    ]
