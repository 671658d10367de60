"""Celery jobs of the consent app. Thin: each calls one service."""

import logging

from celery import shared_task
from django.utils import timezone

from common.jobs import single_run
from consent.ledger.head import ledger_head_publish
from consent.services.contact_points import contact_point_consents_expire
from consent.services.data_consents import data_consents_expire
from consent.webhooks.delivery import endpoint_drain, endpoints_due

logger = logging.getLogger(__name__)
SWEEP_LOCK_SECONDS = 60 * 60


@shared_task(acks_late=True, reject_on_worker_lost=True)
def expire_data_consents() -> int | None:
    """The daily data-consent expiry sweep; a second run meanwhile does nothing."""
    with single_run("expire_data_consents", timeout=SWEEP_LOCK_SECONDS) as acquired:
        if not acquired:
            logger.info("expire_data_consents already running; skipped")
            return None
        count = data_consents_expire()
        logger.info("expired %d data consent(s)", count)
        return count


@shared_task(acks_late=True, reject_on_worker_lost=True)
def expire_contact_point_consents() -> int | None:
    """The daily sweep of contact-point opt-ins whose `expires_at` has passed."""
    with single_run("expire_contact_point_consents", timeout=SWEEP_LOCK_SECONDS) as acquired:
        if not acquired:
            logger.info("expire_contact_point_consents already running; skipped")
            return None
        count = contact_point_consents_expire()
        logger.info("expired %d contact-point opt-in(s)", count)
        return count


# A load of a million rows takes about a minute; the task time limit (an hour) bounds it.
LOAD_LOCK_SECONDS = 60 * 60


@shared_task(acks_late=True, reject_on_worker_lost=True)
def run_consent_load(load_id: int) -> str | None:
    """Run one consent load (DESIGN §3.8); a redelivery while it still runs does nothing, and
    one after it finished leaves it as it is."""
    from consent.loads.runner import consent_load_run
    from consent.models import ConsentLoad

    with single_run(f"run_consent_load:{load_id}", timeout=LOAD_LOCK_SECONDS) as acquired:
        if not acquired:
            logger.info("consent load %s already running; skipped", load_id)
            return None
        load = ConsentLoad.objects.filter(pk=load_id).first()
        if load is None:
            logger.warning("consent load %s does not exist", load_id)
            return None
        load = consent_load_run(load=load)
        logger.info("consent load %s: %s %s", load_id, load.status, load.counts)
        return load.status


@shared_task(acks_late=True, reject_on_worker_lost=True)
def sweep_consent_loads() -> dict | None:
    """Every 15 minutes: purge stale preview files, fail stuck loads, re-dispatch queued ones."""
    from consent.loads.runner import consent_loads_sweep

    with single_run("sweep_consent_loads", timeout=SWEEP_LOCK_SECONDS) as acquired:
        if not acquired:
            logger.info("sweep_consent_loads already running; skipped")
            return None
        counts = consent_loads_sweep()
        logger.info("consent load sweep: %s", counts)
        return counts


@shared_task(acks_late=True, reject_on_worker_lost=True)
def run_bulk_action(bulk_id: int) -> str | None:
    """Run or resume one admin bulk action (consent.services.bulk_actions)."""
    from consent.models import BulkAction
    from consent.services.bulk_actions import bulk_action_run

    with single_run(f"run_bulk_action:{bulk_id}", timeout=LOAD_LOCK_SECONDS) as acquired:
        if not acquired:
            logger.info("bulk action %s already running; skipped", bulk_id)
            return None
        job = BulkAction.objects.filter(pk=bulk_id).first()
        if job is None or job.status == BulkAction.Status.DONE:
            return None
        return bulk_action_run(job=job).status


@shared_task
def publish_ledger_head() -> dict:
    """The daily publication of the consent ledger's head (log and e-mail to the DPO)."""
    return ledger_head_publish()


@shared_task(acks_late=True, reject_on_worker_lost=True)
def refresh_dashboard_figures() -> int | None:
    """Recompute the dashboard's figures (every DASHBOARD_REFRESH_MINUTES, and on demand)."""
    from consent.services.dashboard import dashboard_figures_refresh

    with single_run("refresh_dashboard_figures", timeout=SWEEP_LOCK_SECONDS) as acquired:
        if not acquired:
            logger.info("refresh_dashboard_figures already running; skipped")
            return None
        return len(dashboard_figures_refresh())


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True)
def deliver_webhooks(self, endpoint_id: int) -> dict:
    """One delivery run of an endpoint's outbox (DESIGN §3.10). A run stopped by its time
    budget queues the next at once; one that left retries queues one for the earliest. Both go
    to the queue this run came from. Eagerly (no broker) nothing is queued: the next change or
    the periodic sweep picks the retries up."""
    result = endpoint_drain(endpoint_id=endpoint_id)
    if not self.request.is_eager:
        queue = (self.request.delivery_info or {}).get("routing_key") or None
        if result.more:
            deliver_webhooks.apply_async(args=[endpoint_id], queue=queue)
        elif result.next_attempt_at is not None:
            delay = (result.next_attempt_at - timezone.now()).total_seconds()
            deliver_webhooks.apply_async(
                args=[endpoint_id], countdown=max(delay, 0.05), queue=queue
            )
    return result.as_dict()


@shared_task(acks_late=True, reject_on_worker_lost=True)
def dispatch_due_webhooks() -> int:
    """The periodic safety net: a delivery run for every endpoint with due deliveries."""
    endpoint_ids = endpoints_due()
    for endpoint_id in endpoint_ids:
        deliver_webhooks.delay(endpoint_id)
    return len(endpoint_ids)
