import csv
import io

import pytest

from common.csvutil import CHUNK_ROWS, csv_lines, csv_safe


def parse(chunks) -> list[list[str]]:
    return list(csv.reader(io.StringIO("".join(chunks))))


def test_cells_a_spreadsheet_would_evaluate_are_neutralized_numbers_are_not():
    rows = [["=cmd|' /C calc'!A0", "+1", "-2+3", "@SUM(A1)", "\tx", "plain", None, -5, 1.5, True]]

    assert parse(csv_lines(["a"] * 10, rows)) == [
        ["a"] * 10,
        [
            "'=cmd|' /C calc'!A0",
            "+1",
            "'-2+3",
            "'@SUM(A1)",
            "'\tx",
            "plain",
            "",
            "-5",
            "1.5",
            "True",
        ],
    ]


def test_streams_in_chunks_and_loses_no_row():
    count = CHUNK_ROWS * 2 + 7
    rows = ([n, f"a{n}@example.org", "line\nbreak, comma"] for n in range(count))

    chunks = list(csv_lines(["id", "address", "note"], rows))

    assert len(chunks) == 3  # two full chunks and the rest
    parsed = parse(chunks)
    assert parsed[0] == ["id", "address", "note"]
    assert len(parsed) == count + 1
    assert parsed[-1] == [str(count - 1), f"a{count - 1}@example.org", "line\nbreak, comma"]


def test_header_only_for_no_rows():
    assert parse(csv_lines(["id"], [])) == [["id"]]


@pytest.mark.parametrize(
    "value",
    ["+31610000001", "+14155550100", "-5", "+1.5", "-0.25", "1e3", "-2E-3", "0031610000001"],
)
def test_numbers_and_e164_phone_numbers_stay_exact(value):
    """Issue 15 #19: machine-read values come back as they were written."""
    assert parse(csv_lines(["address"], [[value]])) == [["address"], [value]]
    assert csv_safe(value) == value


@pytest.mark.parametrize(
    "value",
    [
        "=1+1",
        "@SUM(A1)",
        "+cmd|' /C calc'!A0",
        "-2+3",
        "+1 555 0100",
        "-",
        "+",
        "+31610000001=1",
        "-1)*cmd|x",
        "\t=1",
        "\r=1",
        "+1e3e3",
        "+\u0663",  # another script's digit: not a number to a spreadsheet
    ],
)
def test_every_other_sign_start_is_neutralized(value):
    assert csv_safe(value) == f"'{value}"
