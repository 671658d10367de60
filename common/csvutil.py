"""CSV output that spreadsheets cannot turn into formulas, streamed in chunks.

Formula (CSV) injection: a spreadsheet evaluates a cell that starts with `=`, `@`, `+` or `-`
(and some with a tab or carriage return first). Such a cell gets an apostrophe in front, which
a spreadsheet shows as text. But the same files are read by machines — an SMS audience goes to
a sending system — so a value that is data must stay exact: a cell that is a *number* (an E.164
phone number such as `+31610000001`, or a decimal such as `-5` or `1.5e3`) is never touched; a
spreadsheet reads it as the number it is, and nothing in it can run. Only a `+` or `-` followed
by something else (`+cmd|...`, `-2+3`, `+1 555 0100`) is neutralized.
"""

import csv
import io
import re
from collections.abc import Iterable, Iterator

# A cell starting with one of these is always a formula (or hides one).
FORMULA_PREFIXES = ("=", "@", "\t", "\r")
# A cell starting with a sign is a formula unless it is a number.
SIGN_PREFIXES = ("+", "-")
# ASCII digits only, spelled out: Python's \d also matches other scripts' digits ("+٣" was kept
# as a number here while PostgreSQL's COPY writer neutralized it), and a spreadsheet reads
# neither as a number.
NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
# Cells of these types are written as they are: a number is never a formula.
_PLAIN_TYPES = frozenset({int, float, bool})
# Rows per yielded chunk: one write per chunk instead of one per row (a million-row audience).
CHUNK_ROWS = 1000


def csv_safe(value) -> str:
    """Neutralize a cell a spreadsheet would evaluate (CSV/formula injection); numbers, E.164
    phone numbers included, stay exact."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_PREFIXES):
        return f"'{text}"
    if text.startswith(SIGN_PREFIXES) and not NUMBER.fullmatch(text):
        return f"'{text}"
    return text


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
