"""(h6) The consent ledger (DESIGN §7): its cost on a single audited write, the verification
rate, and 32 concurrent writers.

* Single write: `contact_point_consent_set` (a real change each call) with the ledger and with
  the sealer replaced by one that only forgets the rows — the same write without the ledger.
  The two kinds of call alternate, each in its own transaction, commit included; medians.
  Bar: ≤ 1.15×. The records are written to addresses of their own (ledger-bench-…) and
  stay (their history is sealed, so deleting them would break the chain).
* Verification: `ledger_verify` over the whole chain (history written before the ledger is
  sealed first, untimed); the rate in entries/s and 5M entries extrapolated at that rate.
* Concurrency: 32 threads, each with its own connection, write 10 changes each; the chain must
  then verify, hold every sequence once and leave no row unsealed.
"""

import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from django.db import connection
from django.test import override_settings

from common.audit import Evidence, history_unsealed
from consent.ledger.canonical import SEALED_MODELS
from consent.ledger.chain import ledger_seal_backlog
from consent.ledger.verify import ledger_verify
from consent.models import ComplianceProfile, LedgerEntry
from consent.services.contact_points import contact_point_consent_set
from tests.bench.results import Figure

COST_BAR = 1.15
VERIFY_TARGET = 5_000_000
VERIFY_BAR_SECONDS = 60.0
THREADS = 32
CALLS = 10


def forget_rows(*, using: str) -> None:
    """The sealer of the baseline: the write without the ledger."""
    history_unsealed(using=using)  # and forget them


def _writer(tag: str):
    purpose = ComplianceProfile.objects.default().purposes.get(name="Commercial")
    calls = iter(range(10**9))

    def write():
        n = next(calls)
        contact_point_consent_set(
            channel="email",
            value=f"ledger-bench-{tag}-{n % 50}@example.org",
            purpose=purpose,
            status="opted_in" if (n // 50) % 2 == 0 else "opted_out",
            evidence=Evidence(source="api", reason="ledger benchmark"),
        )

    return write


def _single_write(runs: int) -> Figure:
    tag = f"{time.time_ns()}"
    with_ledger, without = _writer(f"{tag}-on"), _writer(f"{tag}-off")
    timings = {"on": [], "off": []}
    for _ in range(runs // 10):  # warm both paths
        with_ledger()
        with override_settings(HISTORY_SEALER="tests.bench.figure_ledger.forget_rows"):
            without()
    for _ in range(runs):
        started = time.perf_counter()
        with_ledger()
        timings["on"].append(time.perf_counter() - started)
        with override_settings(HISTORY_SEALER="tests.bench.figure_ledger.forget_rows"):
            started = time.perf_counter()
            without()
            timings["off"].append(time.perf_counter() - started)
    on, off = statistics.median(timings["on"]), statistics.median(timings["off"])
    return Figure(
        "ledger: single audited write (contact_point_consent_set)",
        on * 1000,
        off * 1000,
        f"≤ {COST_BAR:.2f}× the write without the ledger",
        on / off <= COST_BAR,
        note=f"medians of {runs} alternating committed writes each",
    )


def _verification() -> list[Figure]:
    started = time.perf_counter()
    sealed = ledger_seal_backlog()
    seal_seconds = time.perf_counter() - started
    started = time.perf_counter()
    result = ledger_verify()
    seconds = time.perf_counter() - started
    rate = result["entries"] / seconds if seconds else 0.0
    extrapolated = VERIFY_TARGET / rate if rate else None
    history = sum(model.history.objects.count() for model in SEALED_MODELS)
    return [
        Figure(
            f"ledger: verify {result['entries']:,} entries",
            seconds,
            None,
            "info (rate below)",
            result["ok"],
            unit="s",
            note=f"{rate:,.0f} entries/s; {history:,} sealed-model history rows; "
            f"backlog sealed first: {sealed:,} entries in {seal_seconds:.1f} s "
            f"({sealed / seal_seconds if seal_seconds and sealed else 0:,.0f}/s)",
        ),
        Figure(
            f"ledger: verify {VERIFY_TARGET:,} entries (extrapolated at the measured rate)",
            extrapolated,
            None,
            f"≤ {VERIFY_BAR_SECONDS:.0f} s",
            None if extrapolated is None else extrapolated <= VERIFY_BAR_SECONDS,
            unit="s",
            note="extrapolated linearly from the run above, not measured at 5M",
        ),
    ]


def _concurrent_writers() -> Figure:
    purpose = ComplianceProfile.objects.default().purposes.get(name="Commercial")
    before = LedgerEntry.objects.count()
    barrier, tag = threading.Barrier(THREADS), f"{time.time_ns()}"

    def work(n: int):
        try:
            barrier.wait()
            for i in range(CALLS):
                contact_point_consent_set(
                    channel="email",
                    value=f"ledger-race-{tag}-{n}@example.org",
                    purpose=purpose,
                    status="opted_in" if i % 2 == 0 else "opted_out",
                    evidence=Evidence(source="api", reason="ledger benchmark"),
                )
            return None
        except Exception as exc:
            return exc
        finally:
            connection.close()

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        errors = [e for e in pool.map(work, range(THREADS)) if e is not None]
    seconds = time.perf_counter() - started
    added = LedgerEntry.objects.count() - before
    result = ledger_verify()
    intact = not errors and added == THREADS * CALLS and result["ok"]
    return Figure(
        f"ledger: {THREADS} concurrent writers × {CALLS} changes",
        seconds,
        None,
        "chain intact",
        intact,
        unit="s",
        note=f"{added} entries added, verify ok={result['ok']}, {len(errors)} error(s); "
        f"{THREADS * CALLS / seconds:,.0f} writes/s",
    )


def figures(*, runs: int) -> list[Figure]:
    return [_single_write(max(runs, 20) * 10), *_verification(), _concurrent_writers()]
