"""Admin bulk actions at scale: above BULK_SYNC_LIMIT selected rows, the action runs as a Celery
job (`BulkAction`) with progress, resumable, never half applied by a proxy timeout.

The request only stores the job (the ids, in order) and queues it. The job calls the row's
service once per id, each in its own transaction together with the move of `position` past
it: a redelivered or restarted job resumes after the last row that committed, and applies no
row twice. A row the service refuses (a ValidationError) is recorded in `errors`, as the
synchronous action reports it, and the job carries on.
"""

import logging
from collections.abc import Callable

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from consent.models import BulkAction, DataConsent
from consent.services.data_consents import data_consent_cancel, data_consent_reactivate
from consent.services.erasure import subject_anonymize
from consent.services.subjects import lead_qualify
from subjects import services as subject_services
from subjects.models import Contact, Lead

logger = logging.getLogger(__name__)

BULK_SYNC_LIMIT = 200  # selections up to this size still run in the request
ERRORS_KEPT = 1000

# {code: (model, service(row, user))}: every admin bulk action, one service call per row.
BULK_ACTIONS: dict[str, tuple[type, Callable]] = {
    "lead.qualify": (Lead, lambda s, u: lead_qualify(lead=s, user=u)),
    "lead.convert": (Lead, lambda s, u: lead_qualify(lead=s, convert=True, user=u)),
    "lead.disqualify": (Lead, lambda s, u: subject_services.lead_disqualify(lead=s, user=u)),
    "lead.reactivate": (Lead, lambda s, u: subject_services.lead_reactivate(lead=s, user=u)),
    "lead.anonymize": (Lead, lambda s, u: subject_anonymize(subject=s, user=u)),
    "contact.deactivate": (
        Contact,
        lambda s, u: subject_services.contact_deactivate(contact=s, user=u),
    ),
    "contact.reactivate": (
        Contact,
        lambda s, u: subject_services.contact_reactivate(contact=s, user=u),
    ),
    "contact.anonymize": (Contact, lambda s, u: subject_anonymize(subject=s, user=u)),
    "dataconsent.cancel": (DataConsent, lambda c, u: data_consent_cancel(consent=c, user=u)),
    "dataconsent.reactivate": (
        DataConsent,
        lambda c, u: data_consent_reactivate(consent=c, user=u),
    ),
}


def bulk_action_create(*, action: str, object_ids: list[int], user=None) -> BulkAction:
    """Store the job and queue it once the transaction commits."""
    if action not in BULK_ACTIONS:
        raise ValidationError({"action": "Unknown bulk action."})
    job = BulkAction.objects.create(
        action=action,
        object_ids=list(object_ids),
        created_by=user if user is not None and user.is_authenticated else None,
    )
    transaction.on_commit(lambda: _send(job.pk))
    return job


def _send(job_id: int) -> None:
    from consent.tasks import run_bulk_action  # the task module imports this one

    try:
        run_bulk_action.delay(job_id)
    except Exception:  # the broker is down: the job stays queued, and is run when sent again
        logger.warning("bulk action %s: could not be queued", job_id, exc_info=True)


def bulk_action_run(*, job: BulkAction) -> BulkAction:
    """Run (or resume) the job from its position to the end."""
    model, service = BULK_ACTIONS[job.action]
    BulkAction.objects.filter(pk=job.pk, status=BulkAction.Status.QUEUED).update(
        status=BulkAction.Status.RUNNING
    )
    job.refresh_from_db()
    user = job.created_by
    for position in range(job.position, job.total):
        _run_row(job, model, service, job.object_ids[position], position, user)
    BulkAction.objects.filter(pk=job.pk).update(
        status=BulkAction.Status.DONE, finished_at=timezone.now()
    )
    job.refresh_from_db()
    return job


def _run_row(job, model, service, object_id, position: int, user) -> None:
    with transaction.atomic():
        locked = BulkAction.objects.select_for_update().get(pk=job.pk)
        if locked.position != position:
            return  # another run of this job got here first
        done, error = 0, None
        row = model._default_manager.filter(pk=object_id).first()
        try:
            with transaction.atomic():
                if row is None:
                    raise ValidationError("It no longer exists.")
                service(row, user)
            done = 1
        except ValidationError as exc:
            error = {"id": object_id, "message": exc.messages[0]}
        updates = {"position": F("position") + 1, "done": F("done") + done}
        if error and len(locked.errors) < ERRORS_KEPT:
            updates["errors"] = [*locked.errors, error]
        BulkAction.objects.filter(pk=job.pk).update(**updates)
