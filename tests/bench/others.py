"""The other benchmark scripts of this directory (consent checks in-process and over HTTP, the
consent load), run as subprocesses against the same database; their rows join the table when
they follow the BENCH_JSON convention (README.md)."""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.bench.results import Figure, read_json

HERE = Path(__file__).resolve().parent
SCRIPTS = ("bench_checks.py", "bench_http.py", "bench_load.py")
TIMEOUT_SECONDS = 2 * 60 * 60


def run(script: str, *, contacts: int, environ: dict) -> list[Figure]:
    path = HERE / script
    if not path.exists():
        return [Figure(script, None, None, "", None, unit="", note="skipped: not written yet")]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "figures.json"
        env = {**os.environ, **environ, "BENCH_JSON": str(out), "BENCH_CONTACTS": str(contacts)}
        print(f"\n=== {script} ===", flush=True)
        try:
            done = subprocess.run(
                [sys.executable, str(path)], env=env, timeout=TIMEOUT_SECONDS, check=False
            )
        except subprocess.TimeoutExpired:
            return [Figure(script, None, None, "", False, note="timed out")]
        figures = read_json(out) if out.exists() else []
        if done.returncode != 0:
            figures.append(Figure(script, None, None, "", False, note=f"exit {done.returncode}"))
        elif not figures:
            figures.append(
                Figure(script, None, None, "", None, note="ran; wrote no BENCH_JSON rows")
            )
        return figures
