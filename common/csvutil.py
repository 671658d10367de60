"""CSV output that spreadsheets cannot turn into formulas, streamed in chunks."""

import csv
import io
from collections.abc import Iterable, Iterator

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
# Cells of these types are written as they are: a number is never a formula.
_PLAIN_TYPES = frozenset({int, float, bool})
# Rows per yielded chunk: one write per chunk instead of one per row (a million-row audience).
CHUNK_ROWS = 1000


def csv_safe(value) -> str:
    """Neutralize a cell a spreadsheet would evaluate (CSV/formula injection)."""
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(FORMULA_PREFIXES) else text


def csv_lines(header: list[str], rows: Iterable[Iterable]) -> Iterator[str]:
    """CSV text for a StreamingHttpResponse, in chunks of CHUNK_ROWS lines: constant memory."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    plain = _PLAIN_TYPES
    for count, row in enumerate(rows, 1):
        writer.writerow([value if type(value) in plain else csv_safe(value) for value in row])
        if count % CHUNK_ROWS == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
