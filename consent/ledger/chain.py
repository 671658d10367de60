"""Appending to the chain, in the transaction that wrote the history rows.

`ledger_append` is the `HISTORY_SEALER` (settings): `common.audit.sealed_atomic` services call
it just before they commit. It locks the one-row head (`SELECT … FOR UPDATE`), so appenders
take turns for the few milliseconds between their seal and their commit and the chain never
forks; then it seals every history row its transaction wrote — the rows above the lowest id
the connection noted per table that no entry seals yet. On PostgreSQL a service's few rows are
sealed by one prepared statement (`sql.append_rows`: lock, digests, chain and head in one round
trip, given the rows' exact ids); set-based paths and SQLite take the batched Python path.
"""

from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from common.audit import history_unsealed
from consent.ledger import sql
from consent.ledger.canonical import SEALED, entry_hash, erase_digest, row_digester
from consent.models import LedgerEntry, LedgerHead

BATCH_SIZE = 50_000  # rows digested, chained and copied per batch (~10 MB in memory)


def _unsealed_rows(sealed, low: int, using: str):
    """The rows from `low` up that no entry seals, in id order, a batch per query (keyset:
    the batches are written between the reads)."""
    entry = LedgerEntry.objects.using(using).filter(
        model=sealed.label, kind=LedgerEntry.Kind.SEAL, history_id=OuterRef("history_id")
    )
    unsealed = sealed.history.objects.using(using).filter(~Exists(entry)).order_by("history_id")
    while True:
        batch = unsealed.filter(history_id__gte=low).values_list(*sealed.columns)[:BATCH_SIZE]
        rows = list(batch)
        yield from rows
        if len(rows) < BATCH_SIZE:
            return
        low = rows[-1][0] + 1


def _locked_head(using: str) -> LedgerHead:
    heads = LedgerHead.objects.using(using)
    if not heads.filter(pk=1).exists():  # a flushed database (tests) lost the migration's row
        heads.get_or_create(pk=1)
    return heads.select_for_update().get(pk=1)


def _append(head: LedgerHead, items, *, kind: str, using: str) -> int:
    """Append (label, history_id, digest) items after `head`; return how many."""
    batch, count = [], 0
    for item in items:
        batch.append(item)
        if len(batch) >= BATCH_SIZE:
            count += _write(head, batch, kind=kind, using=using)
            batch = []
    if batch:
        count += _write(head, batch, kind=kind, using=using)
    return count


def _write(head: LedgerHead, batch: list, *, kind: str, using: str) -> int:
    """Chain the batch after `head` and write it. On PostgreSQL the links are computed while
    the COPY streams, so the server stores the first entries while Python hashes the next
    (SHA-256 is sequential: the chain itself cannot be spread)."""
    entries = _entries(head, batch, kind)
    if connections[using].vendor == "postgresql":
        last = sql.copy_entries(entries, using=using)
    else:
        rows = list(entries)
        LedgerEntry.objects.using(using).bulk_create(
            LedgerEntry(**dict(zip(sql.COPY_COLUMNS, row, strict=True))) for row in rows
        )
        last = rows[-1]
    head.sequence, head.hash = last[0], last[6]  # the last entry's sequence and hash
    head.save(using=using, update_fields=["sequence", "hash"])
    return len(batch)


def _entries(head: LedgerHead, batch: list, kind: str):
    """The entries (sql.COPY_COLUMNS order) of (label, history_id, digest) items chained after
    `head`: one tuple per entry, built once (a bulk seal chains millions)."""
    sequence, prev_hash, now = head.sequence, head.hash, timezone.now()
    for label, history_id, digest in batch:
        sequence += 1
        current = entry_hash(prev_hash, sequence, digest)
        yield sequence, label, history_id, kind, digest, prev_hash, current, now
        prev_hash = current


def _sql_digests(sealed, low: int | None, using: str):
    while low is not None:
        rows, low = sql.unsealed_digests(sealed, low=low, limit=BATCH_SIZE, using=using)
        yield from rows


def _sealable(unsealed: dict[str, int], using: str):
    """(label, history_id, digest) of every unsealed row from each table's low id; PostgreSQL
    computes the digests itself (the same canonical text, `consent.ledger.sql`)."""
    set_based = connections[using].vendor == "postgresql"
    for label in sorted(unsealed):
        sealed = SEALED.get(label)
        if sealed is None:
            continue  # a history the ledger does not seal (configuration, lists)
        if set_based:
            for history_id, digest in _sql_digests(sealed, unsealed[label], using):
                yield label, history_id, digest
            continue
        digest = row_digester(sealed)
        for row in _unsealed_rows(sealed, unsealed[label], using):
            yield label, row[0], digest(row)


def ledger_append(*, using: str = DEFAULT_DB_ALIAS) -> int:
    """Seal the history rows this transaction wrote; return how many entries were added."""
    written = history_unsealed(using=using)
    unsealed = {label: low for label, low in written.lows.items() if label in SEALED}
    if not unsealed:
        return 0
    exact = not written.bulk and all(written.ids.get(label) for label in unsealed)
    if exact and connections[using].vendor == "postgresql":
        ids = {label: written.ids[label] for label in unsealed}
        added = sql.append_rows(ids, using=using)  # one statement: lock, seal, head
        if added is not None:
            return added
        # No head row (a flushed database): create it, then take the batched path.
    head = _locked_head(using)
    return _append(head, _sealable(unsealed, using), kind=LedgerEntry.Kind.SEAL, using=using)


def ledger_release(*, history_model, history_ids, using: str = DEFAULT_DB_ALIAS) -> int:
    """Before erasure deletes sealed history rows: an erase entry for each, so the verifier
    knows the rows were removed by the service, not out of band."""
    label = history_model._meta.label_lower
    if label not in SEALED:
        return 0
    head = _locked_head(using)
    sealed_ids = (
        LedgerEntry.objects.using(using)
        .filter(model=label, kind=LedgerEntry.Kind.SEAL, history_id__in=list(history_ids))
        .order_by("history_id")
        .values_list("history_id", flat=True)
    )
    items = [(label, history_id, erase_digest(label, history_id)) for history_id in sealed_ids]
    return _append(head, items, kind=LedgerEntry.Kind.ERASE, using=using)


@transaction.atomic
def ledger_seal_backlog(*, using: str = DEFAULT_DB_ALIAS) -> int:
    """Seal every history row of the sealed models that no entry seals yet: the history
    written before the ledger existed (run once after upgrading). Returns the entries added."""
    head = _locked_head(using)
    everything = dict.fromkeys(SEALED, 0)
    return _append(head, _sealable(everything, using), kind=LedgerEntry.Kind.SEAL, using=using)
