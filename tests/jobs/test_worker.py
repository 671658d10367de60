from datetime import timedelta

from django.utils import timezone

from consent import tasks
from consent.models import DataConsent
from subjects.models import Contact
from tests import factories
from tests.jobs.conftest import wait_for


def make_due_consents(count: int) -> list[DataConsent]:
    policy = factories.policy(validity_days=30)
    long_ago = timezone.now() - timedelta(days=60)
    return [
        factories.consent(subject=factories.contact(), policy_obj=policy, given_at=long_ago)
        for _ in range(count)
    ]


def expired_count() -> int:
    return DataConsent.objects.inactive_expired().count()


def test_sweep_on_a_real_worker_expires_due_consents_with_history(celery_worker):
    due = make_due_consents(3)
    lasting = factories.consent(subject=factories.contact(), policy_obj=factories.policy())

    tasks.expire_data_consents.apply_async(queue=celery_worker)

    assert wait_for(lambda: expired_count() == 3)
    for consent in due:
        row = consent.history.latest()
        assert (row.status_reason, row.history_source, row.history_change_reason) == (
            "expired",
            "system",
            "expired",
        )
        assert Contact.objects.get(pk=consent.contact_id).data_protection_consent == "restrict"
    lasting.refresh_from_db()
    assert lasting.state == "active"


def test_two_sweeps_at_once_produce_one_transition_each(celery_worker):
    due = make_due_consents(40)

    for _ in range(2):
        tasks.expire_data_consents.apply_async(queue=celery_worker)

    assert wait_for(lambda: expired_count() == 40)
    wait_for(lambda: False, timeout=2)  # let a late second sweep finish, if it ran
    history = DataConsent.history.filter(id__in=[c.pk for c in due], status_reason="expired")
    assert history.count() == 40
