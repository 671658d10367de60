"""consent/loads/storage.py: how a load file is stored and decoded (UTF-8 with or without BOM,
CRLF), and the files refused as a whole with one clear message."""

import io
import tracemalloc

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from consent.loads.runner import (
    consent_load_create,
)
from consent.models import ConsentLoad, ConsentLoadChunk, ContactPointConsent
from consent.models.load import CHUNK_SIZE
from tests.consent.loads.helpers import HEADER, History, csv_text, load, record

pytestmark = pytest.mark.django_db


def test_bom_and_crlf_line_endings_are_read_like_plain_utf8(commercial):
    text = csv_text("email,zoë@example.org,Commercial,,opted_in,,,,").replace("\n", "\r\n")
    result = load(b"\xef\xbb\xbf" + text.encode())

    assert result.status == "done", result.message
    assert record("zoë@example.org").status == "opted_in"


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "The file is empty."),
        ("channel,value,purpose,topic,status\n".encode("utf-16"), "binary or UTF-16"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not UTF-8"),
        ("channel,value,purpose,status\nemail,zoë@x.org,C,opted_in\n".encode("latin-1"), "UTF-8"),
        (b"PK\x03\x04\x14\x00\x06\x00", "binary"),
        (b"Dear customer,\nthanks for your order.\n", "missing column(s) channel, value, purpose"),
        (b"channel,value,purpose,status,colour\n", "unknown column(s) 'colour'"),
        (b"channel,value,purpose,status,status\n", "repeated column(s) status"),
        (b"email;ada@example.org;Commercial;opted_in\n", "missing column(s)"),
        (b'"channel,value\n', "not valid CSV"),
    ],
)
def test_a_file_that_is_not_a_consent_csv_is_refused_at_upload(profile, content, message):
    with pytest.raises(ValidationError) as caught:
        consent_load_create(file=content, file_name="x.csv", dispatch=False)
    (text,) = caught.value.message_dict["file"]
    assert message in text
    assert not ConsentLoad.objects.exists()


def big_file_with(tail: bytes) -> bytes:
    row = b"email,someone@example.org,Commercial,,opted_in,,,,\n"
    body = row * (CHUNK_SIZE // len(row) + 10)  # past the first chunk checked at upload
    return HEADER.encode() + body + tail


@pytest.mark.parametrize(
    "tail, message",
    [
        (b"email,caf\xe9@example.org,Commercial,,opted_in,,,,\n", "not UTF-8 text"),
        (b"email,x@example.org,Commercial,,opted_in,,\x00,,\n", "binary"),
        (b'email,"x@example.org,Commercial,,opted_in,,,,\n' + b"y" * 70_000, "longer than"),
    ],
)
def test_a_problem_past_the_first_chunk_refuses_the_whole_file_and_writes_nothing(
    commercial, tail, message
):
    result = load(big_file_with(tail), mode="skip")

    assert result.status == "failed"
    assert message in result.message
    assert ContactPointConsent.objects.count() == History.objects.count() == 0
    assert not result.chunks.exists()


def test_an_unterminated_quote_is_refused_with_its_line(commercial):
    result = load(csv_text('email,"ada@example.org,Commercial,,opted_in,,,,'), mode="skip")

    assert result.status == "failed"
    assert "not valid CSV" in result.message and "Line 2" in result.message


def test_a_huge_field_is_refused_cleanly(commercial):
    huge = "x" * 200_000
    with pytest.raises(ValidationError, match="longer than"):
        load(csv_text(f'email,ada@example.org,Commercial,,opted_in,,"{huge}",,'), mode="skip")
    assert ContactPointConsent.objects.count() == 0


postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="column compression is PostgreSQL's"
)


def _scalar(sql: str, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


@postgres_only
def test_chunks_are_compressed_with_lz4_where_the_server_has_it():
    lz4 = _scalar(
        "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"
    )
    compression = _scalar(
        "SELECT attcompression FROM pg_attribute WHERE attrelid = %s::regclass "
        "AND attname = 'data'",
        [ConsentLoadChunk._meta.db_table],
    )
    assert compression == ("l" if lz4 else "")


def test_a_file_of_several_chunks_reads_back_byte_for_byte():
    row = b"email,someone@example.com,Commercial,opted_in\n"
    data = b"channel,value,purpose,status\n" + row * (2 * CHUNK_SIZE // len(row) + 10)
    load = consent_load_create(file=data, file_name="big.csv", dispatch=False)
    chunks = list(load.chunks.order_by("number").values_list("data", flat=True))
    assert len(chunks) == 3
    assert b"".join(bytes(chunk) for chunk in chunks) == data
    if connection.vendor == "postgresql":  # stored compressed, far smaller than the file
        size = _scalar(
            f"SELECT SUM(pg_column_size(data)) FROM {ConsentLoadChunk._meta.db_table} "
            "WHERE load_id = %s",
            [load.pk],
        )
        assert size < len(data) / 4


def test_storing_a_file_holds_about_one_chunk_in_memory_whatever_its_size():
    """An upload streams into the database chunk by chunk: the memory it takes must not grow
    with the file. (Spelled out as hex in client-side query texts, and those texts kept until
    the next garbage collection, 12 chunks held about 20 MB.)"""
    row = b"email,someone@example.com,Commercial,opted_in\n"
    data = b"channel,value,purpose,status\n" + row * (12 * CHUNK_SIZE // len(row))
    file = io.BytesIO(data)
    tracemalloc.start()
    try:
        load = consent_load_create(file=file, file_name="big.csv", dispatch=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert load.chunks.count() == 13  # 12 MiB and the header
    assert peak < 6 * CHUNK_SIZE, f"{peak / 2**20:.1f} MiB traced while storing 12 MiB"
