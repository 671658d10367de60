"""The consent ledger (DESIGN §3.9): a hash chain sealing every consent-relevant history row.

An entry seals one history row (`kind` seal) or records that erasure removed a sealed one
(`kind` erase). Its `hash` is SHA-256 over the previous entry's hash, its sequence and its
digest, so editing, inserting or deleting an entry breaks every hash after it. `LedgerHead` is
the chain's one-row head: writers lock it to append, so the chain never forks.
"""

from django.db import models
from django.db.models import Q

GENESIS_HASH = "0" * 64


class LedgerEntry(models.Model):
    class Kind(models.TextChoices):
        SEAL = "seal", "Seals a history row"
        ERASE = "erase", "Erasure removed a sealed history row"

    sequence = models.BigIntegerField(primary_key=True)
    model = models.CharField(max_length=64, help_text="Label of the history model.")
    history_id = models.BigIntegerField()
    kind = models.CharField(max_length=5, choices=Kind.choices, default=Kind.SEAL)
    digest = models.CharField(max_length=64, help_text="SHA-256 of the row's PII-free form.")
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)
    sealed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["sequence"]
        verbose_name_plural = "ledger entries"
        permissions = [("verify_ledger", "Can verify the consent ledger")]
        constraints = [
            # A history row is sealed once (and released once); the sealer's anti-join and
            # the verifier's look-up of a row's entry use this index.
            models.UniqueConstraint(
                fields=["model", "history_id", "kind"], name="ledgerentry_row_uniq"
            ),
            models.CheckConstraint(
                condition=Q(kind__in=["seal", "erase"]), name="ledgerentry_kind_valid"
            ),
        ]

    def __str__(self):
        return f"#{self.sequence} {self.kind} {self.model}:{self.history_id}"


class LedgerHead(models.Model):
    """The last entry's sequence and hash (one row, id 1): the lock every appender takes."""

    sequence = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64, default=GENESIS_HASH)

    def __str__(self):
        return f"#{self.sequence} {self.hash}"
