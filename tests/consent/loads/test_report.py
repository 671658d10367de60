"""consent/loads/report.py: what a load reports of its row errors."""

from consent.loads import report
from tests.consent.loads.helpers import csv_text, load


def test_stored_row_errors_are_capped_but_the_total_is_kept(commercial, monkeypatch):
    monkeypatch.setattr(report, "MAX_ROW_ERRORS", 5)
    result = load(csv_text(*["email,bad,Commercial,,opted_in,,,,"] * 12), mode="skip")

    assert len(result.row_errors) == 5
    assert (result.row_errors_total, result.counts["invalid"]) == (12, 12)
