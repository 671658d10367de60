"""Celery jobs of the consent app. Thin: each calls one service."""

import logging

from celery import shared_task

from common.jobs import single_run
from consent import contact_points, services

logger = logging.getLogger(__name__)
SWEEP_LOCK_SECONDS = 60 * 60


@shared_task(acks_late=True, reject_on_worker_lost=True)
def expire_data_consents() -> int | None:
    """The daily data-consent expiry sweep; a second run meanwhile does nothing."""
    with single_run("expire_data_consents", timeout=SWEEP_LOCK_SECONDS) as acquired:
        if not acquired:
            logger.info("expire_data_consents already running; skipped")
            return None
        count = services.data_consents_expire()
        logger.info("expired %d data consent(s)", count)
        return count


@shared_task(acks_late=True, reject_on_worker_lost=True)
def expire_contact_point_consents() -> int | None:
    """The daily sweep of contact-point opt-ins whose `expires_at` has passed."""
    with single_run("expire_contact_point_consents", timeout=SWEEP_LOCK_SECONDS) as acquired:
        if not acquired:
            logger.info("expire_contact_point_consents already running; skipped")
            return None
        count = contact_points.contact_point_consents_expire()
        logger.info("expired %d contact-point opt-in(s)", count)
        return count
