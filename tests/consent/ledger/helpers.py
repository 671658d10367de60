"""Shared by the ledger tests: what is sealed, and raw SQL that bypasses the services."""

from django.db import connection

from consent.ledger.canonical import SEALED_MODELS
from consent.models import LedgerEntry


def unsealed_rows() -> int:
    """History rows of the sealed models that no entry seals (0 after every service write)."""
    total = 0
    for sealed in SEALED_MODELS:
        entries = LedgerEntry.objects.filter(model=sealed.label, kind=LedgerEntry.Kind.SEAL)
        total += sealed.history.objects.exclude(history_id__in=entries.values("history_id")).count()
    return total


def entry_for(history_row) -> LedgerEntry:
    return LedgerEntry.objects.get(
        model=type(history_row)._meta.label_lower,
        history_id=history_row.history_id,
        kind=LedgerEntry.Kind.SEAL,
    )


def raw(sql: str, params=()) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)
