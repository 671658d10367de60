"""A load's file: stored in chunks in the database (so any worker can read it), then decoded
line by line (UTF-8 with or without BOM; binary files and oversized lines are refused).
"""

import codecs
import csv
from collections.abc import Iterable, Iterator

from django.conf import settings
from django.db import connection

from consent.addresses import (
    field_error,
)
from consent.loads.report import LoadRefused
from consent.loads.rows import header_columns
from consent.models import (
    ConsentLoad,
    ConsentLoadChunk,
)
from consent.models.load import CHUNK_SIZE

MAX_LINE_CHARS = 64 * 1024  # a real row is under 1,500 characters


BINARY_MESSAGE = (
    "The file is binary or UTF-16, not UTF-8 CSV text. Save it as “CSV UTF-8” and upload it again."
)


def store_file(load: ConsentLoad, file) -> None:
    size = lines = 0
    head_checked = False
    for number, chunk in enumerate(_file_chunks(file)):
        size += len(chunk)
        limit = settings.CONSENT_LOAD_MAX_BYTES
        if size > limit:
            raise field_error("file", f"The file is larger than {limit // 2**20} MB.")
        if not head_checked:
            _check_head(chunk, whole=len(chunk) < CHUNK_SIZE)
            head_checked = True
        lines += chunk.count(b"\n")
        _insert_chunk(load, number, chunk)
    if size == 0:
        raise field_error("file", "The file is empty.")
    load.file_size = size
    load.rows_total = max(lines - 1, 0) if chunk.endswith(b"\n") else lines  # header excluded
    load.save(update_fields=["file_size", "rows_total"])


def _insert_chunk(load: ConsentLoad, number: int, data: bytes) -> None:
    """Through the driver: Django's debug cursor (DEBUG=true) would keep the text of the query,
    a megabyte of escaped bytes per chunk, in `connection.queries`. On PostgreSQL with a
    server-side binding cursor, so the chunk goes as a binary parameter: Django's client-side
    binding cursor spelled it out as 2 MB of hex in the query text, and kept the last texts
    alive until the next garbage collection (50 MB held while a 25 MB file was stored)."""
    table = ConsentLoadChunk._meta.db_table
    sql = f"INSERT INTO {table} (load_id, number, data) VALUES (%s, %s, %s)"
    if connection.vendor == "postgresql":
        import psycopg  # PostgreSQL only

        connection.ensure_connection()
        with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
            cursor.execute(sql, [load.pk, number, data], binary=True)
        return
    with connection.cursor() as cursor:
        cursor.cursor.execute(sql, [load.pk, number, data])


def _file_chunks(file) -> Iterator[bytes]:
    if isinstance(file, bytes | bytearray | memoryview):
        data = bytes(file)
        for start in range(0, len(data), CHUNK_SIZE):
            yield data[start : start + CHUNK_SIZE]
        return
    if hasattr(file, "seek"):
        file.seek(0)
    pending = b""
    while block := file.read(CHUNK_SIZE):
        pending += block
        while len(pending) >= CHUNK_SIZE:
            yield pending[:CHUNK_SIZE]
            pending = pending[CHUNK_SIZE:]
    if pending:
        yield pending


def _check_head(chunk: bytes, *, whole: bool) -> None:
    """Refuse at upload what is plainly not a consent CSV (the run checks the rest)."""
    try:
        lines = TextLines([chunk], final=whole)
        header = next(csv.reader(lines, strict=True), None)
        header_columns(header)
    except (LoadRefused, csv.Error) as exc:
        raise field_error("file", _refusal_text(exc)) from exc


def _refusal_text(exc: Exception) -> str:
    if isinstance(exc, csv.Error):
        return f"The file is not valid CSV ({exc})."
    return str(exc)


def stored_chunks(load: ConsentLoad) -> Iterator[bytes]:
    """The file, one chunk (one query) at a time: memory stays at one chunk."""
    numbers = list(load.chunks.order_by("number").values_list("number", flat=True))
    for number in numbers:
        data = ConsentLoadChunk.objects.filter(load=load, number=number).values_list(
            "data", flat=True
        )
        yield bytes(data.get())


class TextLines:
    """UTF-8 (BOM or not) lines, LF or CRLF, each at most MAX_LINE_CHARS; refuses binary.

    `final=False` reads only the complete lines of a file's beginning (the upload check).
    """

    def __init__(self, chunks: Iterable[bytes], *, final: bool = True):
        self.chunks = chunks
        self.final = final
        self.lines_read = 0

    def __iter__(self) -> Iterator[str]:
        decoder = codecs.getincrementaldecoder("utf-8-sig")()
        pending = ""
        for chunk in self.chunks:
            parts = (pending + self._decode(decoder, chunk)).split("\n")
            pending = parts.pop()
            self._check_lengths(parts, pending)
            for part in parts:
                self.lines_read += 1
                yield part + "\n"
        if self.final:
            pending += self._decode(decoder, b"", final=True)
            if pending:
                self.lines_read += 1
                yield pending

    def _decode(self, decoder, chunk: bytes, final: bool = False) -> str:
        try:
            text = decoder.decode(chunk, final)
        except UnicodeDecodeError:
            if b"\x00" in chunk:
                raise LoadRefused(BINARY_MESSAGE) from None
            raise LoadRefused(
                f"The file is not UTF-8 text (an invalid byte after line {self.lines_read}). "
                "Save it as “CSV UTF-8” and upload it again."
            ) from None
        if "\x00" in text:
            raise LoadRefused(BINARY_MESSAGE)
        return text

    def _check_lengths(self, parts: list[str], pending: str) -> None:
        longest = max(map(len, parts), default=0)
        if max(longest, len(pending)) > MAX_LINE_CHARS:
            raise LoadRefused(
                f"Line {self.lines_read + 1} or a nearby one is longer than {MAX_LINE_CHARS:,} "
                "characters: this is not a consent CSV."
            )
