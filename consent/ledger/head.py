"""Publishing the head: once a day the chain's head is logged and e-mailed to the DPO, so a
copy lives outside the database. Rewriting the chain before a published head is then found by
comparing it with the copy (docs/ledger.md, threat model)."""

import logging

from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.utils import timezone

from consent.models import LedgerHead
from consent.roles import DPO

logger = logging.getLogger(__name__)


def dpo_addresses() -> list[str]:
    users = get_user_model().objects.filter(groups__name=DPO, is_active=True).exclude(email="")
    return sorted(set(users.values_list("email", flat=True)))


def ledger_head_publish() -> dict:
    """Log the head and e-mail it to the DPO group's users; return what was published."""
    head = LedgerHead.objects.filter(pk=1).first() or LedgerHead()
    published = {
        "sequence": head.sequence,
        "hash": head.hash,
        "at": timezone.now().isoformat(timespec="seconds"),
    }
    logger.info("consent ledger head %(at)s: #%(sequence)s %(hash)s", published)
    recipients = dpo_addresses()
    if recipients:
        send_mail(
            subject=f"Consent ledger head #{head.sequence}",
            message=(
                f"The consent ledger's head on {published['at']}:\n\n"
                f"  entry #{head.sequence}\n  hash {head.hash}\n\n"
                "Keep this message: `manage.py verify_ledger` must report a chain that passes "
                "through this entry with this hash.\n"
            ),
            from_email=None,
            recipient_list=recipients,
        )
    return {**published, "recipients": len(recipients)}
