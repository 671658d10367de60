"""Benchmark figures: one row each, a table on stdout and JSON for machines.

The JSON convention every script in tests/bench follows (see README.md): when the environment
variable BENCH_JSON names a path, the script writes there a JSON list of rows
`{figure, value, floor, ratio, bar, passed, unit}` (plus an optional `note`). `passed` is true,
false, or null for a figure that is informational or was skipped.
"""

import json
import os
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Figure:
    figure: str
    value: float | None
    floor: float | None
    bar: str
    passed: bool | None  # None: informational, or skipped (see note)
    unit: str = "ms"
    note: str = ""
    explain: str = ""  # EXPLAIN (ANALYZE) of the statement that made it fail, if any

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.floor:
            return None
        return self.value / self.floor

    def as_dict(self) -> dict:
        ratio = self.ratio
        row = {
            "figure": self.figure,
            "value": _round(self.value),
            "floor": _round(self.floor),
            "ratio": None if ratio is None else round(ratio, 2),
            "bar": self.bar,
            "passed": self.passed,
            "unit": self.unit,
            "note": self.note,
        }
        if self.explain:
            row["explain"] = self.explain
        return row

    @classmethod
    def from_dict(cls, row: dict) -> "Figure":
        return cls(
            figure=str(row["figure"]),
            value=row.get("value"),
            floor=row.get("floor"),
            bar=str(row.get("bar", "")),
            passed=row.get("passed"),
            unit=str(row.get("unit", "")),
            note=str(row.get("note", "")),
            explain=str(row.get("explain", "")),
        )


def skipped(figure: str, bar: str, why: str) -> Figure:
    return Figure(figure, None, None, bar, None, unit="", note=f"skipped: {why}")


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3 if abs(value) < 10 else 1)


# ---------------------------------------------------------------------------------------------
# Timing


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    """(seconds, result) of one call."""
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def median_seconds(fn: Callable[[], object], *, runs: int, warmup: int = 1) -> float:
    """Median wall time over `runs` calls after `warmup` untimed ones."""
    for _ in range(warmup):
        fn()
    return statistics.median(timed(fn)[0] for _ in range(runs))


# ---------------------------------------------------------------------------------------------
# Output


def write_json(figures: Iterable[Figure], path: str | os.PathLike | None = None) -> Path | None:
    """Write the rows to `path`, or to $BENCH_JSON; nothing when neither is given."""
    path = path or os.environ.get("BENCH_JSON")
    if not path:
        return None
    path = Path(path)
    path.write_text(json.dumps([f.as_dict() for f in figures], indent=2) + "\n")
    return path


def read_json(path: str | os.PathLike) -> list[Figure]:
    rows = json.loads(Path(path).read_text())
    if not isinstance(rows, list):
        raise ValueError(f"{path}: expected a JSON list of figure rows")
    return [Figure.from_dict(row) for row in rows]


HEADER = ("figure", "value", "floor", "ratio", "bar", "result", "note")


def table(figures: Iterable[Figure]) -> str:
    """A plain-text table (also valid Markdown)."""
    lines = [HEADER, *(_cells(f) for f in figures)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(HEADER))]
    rendered = [
        "| "
        + " | ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True))
        + " |"
        for line in lines
    ]
    rendered.insert(1, "|" + "|".join("-" * (width + 2) for width in widths) + "|")
    return "\n".join(rendered)


def _cells(figure: Figure) -> tuple[str, ...]:
    ratio = figure.ratio
    return (
        figure.figure,
        _quantity(figure.value, figure.unit),
        _quantity(figure.floor, figure.unit),
        "" if ratio is None else f"{ratio:.2f}×",
        figure.bar,
        {True: "PASS", False: "FAIL", None: "info" if figure.value is not None else "skip"}[
            figure.passed
        ],
        figure.note,
    )


def _quantity(value: float | None, unit: str) -> str:
    if value is None:
        return ""
    text = (
        f"{value:,.0f}" if abs(value) >= 100 else f"{value:.2f}" if value < 10 else f"{value:.1f}"
    )
    return f"{text} {unit}".strip()
