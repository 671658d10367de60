"""Data subject requests (DESIGN §3.11): take a request in, follow it, answer it within the month
of Art. 12(3) — extended only with a recorded reason — and keep what was done as the outcome.

Every write leaves a history row naming the user, the source and the reason.
"""

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from common.audit import Source, delete_audited, stamp
from consent.models import DataSubjectRequest, ErasureRecord
from consent.models.requests import add_months
from consent.services.erasure import subject_anonymize
from subjects.models import Contact, Lead

Kind = DataSubjectRequest.Kind
Status = DataSubjectRequest.Status

DUE_MONTHS = 1  # Art. 12(3): "within one month of receipt of the request"
MAX_EXTENSION_MONTHS = 2  # "... extended by two further months where necessary"
UPDATABLE_FIELDS = ("kind", "lead", "contact", "requester", "handled_by", "notes", "status")


def _save(request: DataSubjectRequest, *, user, source: str, reason: str) -> DataSubjectRequest:
    stamp(request, user=user, source=source, reason=reason)
    request.full_clean(exclude=["lead", "contact", "handled_by", "erasure_record"])
    request.save()
    return request


def _check_subject(*, lead: Lead | None, contact: Contact | None) -> None:
    if lead is not None and contact is not None:
        raise ValidationError({"contact": "A request concerns one subject: a lead or a contact."})


def _locked(request: DataSubjectRequest) -> DataSubjectRequest:
    return DataSubjectRequest.objects.select_for_update().get(pk=request.pk)


def _require_open(request: DataSubjectRequest) -> None:
    if not request.is_open:
        raise ValidationError(
            f"This request is already {request.get_status_display().lower()}.",
            code="invalid_state",
        )


@transaction.atomic
def data_subject_request_create(
    *,
    kind: str,
    received_at: datetime | None = None,
    lead: Lead | None = None,
    contact: Contact | None = None,
    requester: str = "",
    handled_by=None,
    notes: str = "",
    user=None,
    source: str = Source.INTERNAL,
) -> DataSubjectRequest:
    """A new request, due one month after receipt (Art. 12(3))."""
    _check_subject(lead=lead, contact=contact)
    received_at = received_at or timezone.now()
    if received_at > timezone.now():
        raise ValidationError({"received_at": "A request cannot be received in the future."})
    request = DataSubjectRequest(
        kind=kind,
        received_at=received_at,
        due_at=add_months(received_at, DUE_MONTHS),
        lead=lead,
        contact=contact,
        requester=requester,
        handled_by=handled_by,
        notes=notes,
    )
    return _save(request, user=user, source=source, reason="received")


@transaction.atomic
def data_subject_request_update(
    *, request: DataSubjectRequest, data: dict, user=None, source: str = Source.INTERNAL
) -> DataSubjectRequest:
    """Identify the subject, assign it, take notes, mark it in progress (an open request only).

    The deadline moves only through `data_subject_request_extend`; done and refused only
    through `…_complete` and `…_refuse`."""
    unknown = set(data) - set(UPDATABLE_FIELDS)
    if unknown:
        raise ValidationError(dict.fromkeys(sorted(unknown), "This field cannot be changed."))
    request = _locked(request)
    _require_open(request)
    if data.get("status", request.status) not in (Status.OPEN, Status.IN_PROGRESS):
        raise ValidationError({"status": "Complete or refuse the request with its own action."})
    for name, value in data.items():
        setattr(request, name, value)
    _check_subject(lead=request.lead, contact=request.contact)
    return _save(request, user=user, source=source, reason="edited")


@transaction.atomic
def data_subject_request_extend(
    *,
    request: DataSubjectRequest,
    due_at: datetime,
    reason: str,
    user=None,
    source: str = Source.INTERNAL,
) -> DataSubjectRequest:
    """Move the deadline later, at most two further months (Art. 12(3)); the reason is kept on
    the request and in its history row."""
    request = _locked(request)
    _require_open(request)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why the deadline is extended."})
    if due_at <= request.due_at:
        raise ValidationError({"due_at": "The new deadline must be later than the current one."})
    limit = add_months(request.received_at, DUE_MONTHS + MAX_EXTENSION_MONTHS)
    if due_at > limit:
        raise ValidationError(
            {"due_at": f"At most three months after receipt (until {limit:%Y-%m-%d %H:%M})."}
        )
    request.due_at = due_at
    request.extension_reason = reason
    return _save(request, user=user, source=source, reason=f"deadline extended: {reason}")


def _erasure_outcome(request: DataSubjectRequest, *, user, source: str) -> ErasureRecord:
    """Anonymize the subject; one anonymized already (from its own page) links its record."""
    subject = request.subject
    if subject.is_anonymized:
        return (
            ErasureRecord.objects.filter(subject_type=subject.subject_type, subject_id=subject.pk)
            .order_by("-erased_at")
            .first()
        )
    return subject_anonymize(subject=subject, user=user, source=source)


@transaction.atomic
def data_subject_request_complete(
    *,
    request: DataSubjectRequest,
    outcome: str = "",
    access_report: dict | None = None,
    user=None,
    source: str = Source.INTERNAL,
) -> DataSubjectRequest:
    """Answer the request. An access request keeps `access_report`, the report as sent (built by
    `consent.reports.access_report.subject_access_report` for the completing user); an erasure
    request runs the anonymization and links its erasure record."""
    request = _locked(request)
    _require_open(request)
    if request.kind in (Kind.ACCESS, Kind.ERASURE) and request.subject is None:
        raise ValidationError("Identify the subject (a lead or a contact) first.")
    if request.kind == Kind.ACCESS:
        if not access_report or access_report.get("subject", {}).get("id") != request.subject.pk:
            raise ValidationError("An access request is completed with the subject's report.")
        request.access_report = access_report
    if request.kind == Kind.ERASURE:
        request.erasure_record = _erasure_outcome(request, user=user, source=source)
        # The anonymization scrubbed who asked and the notes: keep its scrub, not our copy.
        request.refresh_from_db(fields=["requester", "notes", "access_report"])
    request.status = Status.DONE
    request.outcome = outcome
    request.completed_at = timezone.now()
    if request.handled_by is None and user is not None and user.is_authenticated:
        request.handled_by = user
    return _save(request, user=user, source=source, reason="completed")


@transaction.atomic
def data_subject_request_refuse(
    *, request: DataSubjectRequest, reason: str, user=None, source: str = Source.INTERNAL
) -> DataSubjectRequest:
    """Refuse (Art. 12(4), 12(5)): the reason is required, it is what the person is told."""
    request = _locked(request)
    _require_open(request)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why the request is refused."})
    request.status = Status.REFUSED
    request.outcome = reason
    request.completed_at = timezone.now()
    if request.handled_by is None and user is not None and user.is_authenticated:
        request.handled_by = user
    return _save(request, user=user, source=source, reason="refused")


@transaction.atomic
def data_subject_request_delete(
    *, request: DataSubjectRequest, user=None, source: str = Source.INTERNAL
) -> None:
    """Remove a request entered by mistake; an answered one is the proof it was answered."""
    request = _locked(request)
    if not request.is_open:
        raise ValidationError("An answered request is kept.", code="invalid_state")
    delete_audited(request, user=user, source=source)
