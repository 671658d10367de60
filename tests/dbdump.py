"""A text dump of every table, to prove erased data survives nowhere."""

import re

from django.db import connection

# pg_dump writes a bytea as hex (`\x5861…`, its backslash doubled inside COPY data).
_HEX_BYTEA = re.compile(r"\\{1,2}x((?:[0-9a-fA-F]{2})+)")


def decode_bytea_hex(text: str) -> str:
    """`text` with every hex-encoded bytea replaced by its bytes read as UTF-8."""
    return _HEX_BYTEA.sub(lambda match: bytes.fromhex(match[1]).decode("utf-8", "replace"), text)


def cell_text(value) -> str:
    # A bytea cell comes back as bytes or a memoryview (whose repr is "<memory at 0x…>"):
    # read its content, as a grep of the stored file would.
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", "replace")
    return repr(value)


def database_text() -> str:
    """Every cell of every table, bytea decoded, lower-cased."""
    chunks = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            chunks.extend(" ".join(map(cell_text, row)) for row in cursor.fetchall())
    return "\n".join(chunks).lower()
