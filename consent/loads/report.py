"""What a load reports: counts per outcome and the row errors (line, column, message)."""

from dataclasses import dataclass, field

from consent.models.load import COUNT_NAMES

MAX_ROW_ERRORS = 1000  # stored per load; the total is counted


@dataclass
class Report:
    rows: int = 0
    invalid: int = 0
    outcome_counts: dict[str, int] = field(default_factory=dict)
    written: int = 0
    errors: list[dict] = field(default_factory=list)  # invalid rows, at most MAX_ROW_ERRORS
    error_entries: int = 0
    notes: list[dict] = field(default_factory=list)  # duplicates / suppressed (from the plan)

    def invalid_row(self, line: int | None, problems: list[tuple[str, str]]) -> None:
        self.invalid += 1
        for column, message in problems:
            self.error_entries += 1
            if len(self.errors) < MAX_ROW_ERRORS:
                self.errors.append(error_entry(line, column, message, "invalid"))

    @property
    def entries_total(self) -> int:
        notes = self.outcome_counts.get("duplicate", 0) + self.outcome_counts.get("suppressed", 0)
        return self.error_entries + notes

    def entries(self) -> list[dict]:
        merged = sorted(self.errors + self.notes, key=lambda e: (e["line"] or 0, e["kind"]))
        return merged[:MAX_ROW_ERRORS]

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(COUNT_NAMES, 0)
        for outcome, number in self.outcome_counts.items():
            counts[OUTCOME_COUNTS[outcome]] += number
        counts.update(rows=self.rows, invalid=self.invalid, written=self.written)
        return counts


def error_entry(line: int | None, column: str, message: str, kind: str) -> dict:
    return {"line": line, "column": column, "message": message, "kind": kind}


BATCH_ROWS = 20_000  # rows per staging batch (and per progress update)


WRITE_OUTCOMES = ("opt_in", "opt_out", "other_change")


OUTCOME_COUNTS = {
    "opt_in": "opt_ins",
    "opt_out": "opt_outs",
    "other_change": "other_changes",
    "unchanged": "unchanged",
    "stale": "stale",
    "duplicate": "duplicates",
    "suppressed": "suppressed",
}


class LoadRefused(Exception):
    """The whole file is refused (not CSV, not UTF-8, binary, wrong header …): one message."""
