"""Verifying the chain: recompute every entry's hash and every sealed row's digest.

Entries are read in sequence order, a batch per query; the history rows a batch seals are read
with one query per history table. The first entry that fails — a missing sequence number (a
deleted entry), a hash or link that does not match (an edited entry), a sealed row whose
digest differs (an out-of-band UPDATE) or that is gone without an erase entry (a DELETE) — is
`first_bad_entry`; verification stops there. On PostgreSQL the same checks run set-based
(`consent.ledger.sql`).
"""

from collections import defaultdict

from django.db import DEFAULT_DB_ALIAS, connections

from consent.ledger.canonical import SEALED, entry_hash, erase_digest, row_digester
from consent.ledger.sql import chain_summary
from consent.models import LedgerEntry, LedgerHead
from consent.models.ledger import GENESIS_HASH

BATCH_SIZE = 20_000
ENTRY_COLUMNS = ("sequence", "model", "history_id", "kind", "digest", "prev_hash", "hash")


class _Bad(Exception):
    def __init__(self, sequence: int):
        self.sequence = sequence


def _released(using: str) -> dict[tuple[str, int], int]:
    """(label, history_id) → sequence of the erase entry that released the row."""
    erased = LedgerEntry.objects.using(using).filter(kind=LedgerEntry.Kind.ERASE)
    return {
        (label, history_id): sequence
        for sequence, label, history_id in erased.values_list("sequence", "model", "history_id")
    }


def _row_digests(batch: list[tuple], digesters: dict, using: str) -> dict[tuple[str, int], str]:
    wanted = defaultdict(list)
    for _, label, history_id, kind, *_ in batch:
        if kind == LedgerEntry.Kind.SEAL:
            wanted[label].append(history_id)
    digests = {}
    for label, ids in wanted.items():
        sealed = SEALED.get(label)
        if sealed is None:
            continue  # an entry naming no sealed model: its digest cannot match
        rows = sealed.history.objects.using(using).filter(history_id__in=ids)
        digest = digesters[label]
        for row in rows.values_list(*sealed.columns).iterator(chunk_size=BATCH_SIZE):
            digests[label, row[0]] = digest(row)
    return digests


def _check_entry(entry: tuple, expected: int, prev_hash: str, digests, released) -> None:
    sequence, label, history_id, kind, digest, entry_prev, current = entry
    if sequence != expected:
        raise _Bad(expected)  # the entry with this sequence was deleted
    if entry_prev != prev_hash or current != entry_hash(prev_hash, sequence, digest):
        raise _Bad(sequence)
    if kind == LedgerEntry.Kind.ERASE:
        if digest != erase_digest(label, history_id):
            raise _Bad(sequence)
        return
    recomputed = digests.get((label, history_id))
    if recomputed is None:
        if released.get((label, history_id), 0) <= sequence:
            raise _Bad(sequence)  # the sealed row is gone, and no erasure removed it
    elif recomputed != digest:
        raise _Bad(sequence)


def _batches(using: str):
    after = 0
    entries = LedgerEntry.objects.using(using).order_by("sequence")
    while True:
        batch = list(entries.filter(sequence__gt=after).values_list(*ENTRY_COLUMNS)[:BATCH_SIZE])
        if batch:
            yield batch
        if len(batch) < BATCH_SIZE:
            return
        after = batch[-1][0]


def _walk(using: str) -> tuple[int | None, int, str]:
    """The Python walk: (first bad sequence or None, last sequence, last hash)."""
    released = _released(using)
    digesters = {label: row_digester(sealed) for label, sealed in SEALED.items()}
    expected, prev_hash = 1, GENESIS_HASH
    try:
        for batch in _batches(using):
            digests = _row_digests(batch, digesters, using)
            for entry in batch:
                _check_entry(entry, expected, prev_hash, digests, released)
                expected, prev_hash = expected + 1, entry[-1]
    except _Bad as bad:
        return bad.sequence, expected - 1, prev_hash
    return None, expected - 1, prev_hash


def ledger_verify(*, using: str = DEFAULT_DB_ALIAS, set_based: bool | None = None) -> dict:
    """`{"ok", "entries", "head", "first_bad_entry"}` (DESIGN §3.9, §4 `ledger/verify/`).

    `entries` counts the entries verified before the first bad one (all of them when `ok`).
    PostgreSQL verifies set-based (`consent.ledger.sql`), other databases walk the chain.
    """
    if set_based is None:
        set_based = connections[using].vendor == "postgresql"
    head = LedgerHead.objects.using(using).filter(pk=1).first() or LedgerHead()
    first_bad, last, last_hash = chain_summary(using) if set_based else _walk(using)
    if first_bad is None and (head.sequence, head.hash) != (last, last_hash):
        # Entries after the last one stored were deleted, or the head was edited.
        first_bad = min(head.sequence, last) + 1 if head.sequence != last else last
    return {
        "ok": first_bad is None,
        "entries": last if first_bad is None else first_bad - 1,
        "head": {"sequence": head.sequence, "hash": head.hash},
        "first_bad_entry": first_bad,
    }
