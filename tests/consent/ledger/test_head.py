"""Publishing the head (consent/ledger/head.py, the daily beat task): logged, and e-mailed to
the DPO group's users only."""

import logging

import pytest
from django.conf import settings

from consent.models import LedgerHead
from consent.tasks import publish_ledger_head
from tests import factories

pytestmark = pytest.mark.django_db


def test_the_head_is_logged_and_mailed_to_the_dpos(make_user, mailoutbox, caplog):
    dpo = make_user("dpo1", role="DPO")
    dpo.email = "dpo@example.org"
    dpo.save()
    make_user("marketer1", role="Marketing").__class__.objects.filter(username="marketer1").update(
        email="marketing@example.org"
    )
    factories.contact()
    head = LedgerHead.objects.get()

    with caplog.at_level(logging.INFO, logger="consent.ledger.head"):
        published = publish_ledger_head.apply().get()

    assert (published["sequence"], published["hash"]) == (head.sequence, head.hash)
    assert head.hash in caplog.text
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == ["dpo@example.org"]
    assert head.hash in mailoutbox[0].body
    assert f"#{head.sequence}" in mailoutbox[0].subject


def test_the_publication_is_scheduled_daily():
    schedule = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "consent.tasks.publish_ledger_head" in schedule
