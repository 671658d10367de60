"""How an uploaded load file is stored (consent migration 0011: lz4 on PostgreSQL)."""

import pytest
from django.db import connection

from consent.loads.runner import consent_load_create
from consent.models import ConsentLoadChunk
from consent.models.load import CHUNK_SIZE

pytestmark = pytest.mark.django_db
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
