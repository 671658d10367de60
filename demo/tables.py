"""Bulk writes for `demo.seed`: rows streamed into a model's table, history rows set-based.

PostgreSQL gets `COPY ... FROM STDIN` (psycopg 3 `cursor.copy`); other databases (SQLite) get
`executemany` in chunks. History rows are never built in Python: one `INSERT ... SELECT` per
table copies the freshly inserted rows into the django-simple-history table, with the same
columns `bulk_history_create` would write.
"""

from collections.abc import Iterable
from contextlib import contextmanager
from datetime import UTC

from django.core.management.base import CommandError
from django.core.management.color import no_style
from django.db import models

EXECUTEMANY_CHUNK = 5000
HISTORY_FIELDS = {
    "history_id",
    "history_date",
    "history_change_reason",
    "history_type",
    "history_user",
    "history_source",
}


class TableWriter:
    """Inserts tuples of `columns` into `model`'s table; other columns get the field default."""

    def __init__(self, connection, model: type[models.Model], columns: Iterable[str]):
        self.connection = connection
        self.model = model
        columns = tuple(columns)
        fields = model._meta.concrete_fields
        known = {f.column for f in fields}
        unknown = set(columns) - known
        if unknown:
            raise CommandError(f"{model._meta.db_table} has no column(s) {sorted(unknown)}")
        rest = [f for f in fields if f.column not in columns]
        self.tail = tuple(_default(f) for f in rest)
        self.columns = (*columns, *(f.column for f in rest))
        by_column = {f.column: f for f in fields}
        self.converters = [_converter(connection, by_column[c]) for c in self.columns]
        self.rows_written = 0
        self.type_oids = None  # PostgreSQL column types, for binary COPY

    @property
    def _column_list(self) -> str:
        quote = self.connection.ops.quote_name
        return ", ".join(quote(c) for c in self.columns)

    def write(self, rows: list[tuple]) -> None:
        if not rows:
            return
        if self.connection.vendor == "postgresql":
            self._copy(rows)
        else:
            self._executemany(rows)
        self.rows_written += len(rows)

    def _copy(self, rows: list[tuple]) -> None:
        """Binary COPY: several times cheaper than text, for the client and the server."""
        table = self.connection.ops.quote_name(self.model._meta.db_table)
        tail = self.tail
        with self.connection.cursor() as cursor:
            if self.type_oids is None:
                cursor.execute(COLUMN_TYPES_SQL, [self.model._meta.db_table])
                oids = dict(cursor.fetchall())
                self.type_oids = [oids[column] for column in self.columns]
            sql = f"COPY {table} ({self._column_list}) FROM STDIN (FORMAT BINARY)"
            with cursor.copy(sql) as copy:
                copy.set_types(self.type_oids)
                for row in rows:
                    copy.write_row(row + tail)

    def _executemany(self, rows: list[tuple]) -> None:
        table = self.connection.ops.quote_name(self.model._meta.db_table)
        marks = ", ".join(["%s"] * len(self.columns))
        sql = f"INSERT INTO {table} ({self._column_list}) VALUES ({marks})"
        converters = [(i, c) for i, c in enumerate(self.converters) if c is not None]
        tail = self.tail
        with self.connection.cursor() as cursor:
            for start in range(0, len(rows), EXECUTEMANY_CHUNK):
                chunk = [list(row + tail) for row in rows[start : start + EXECUTEMANY_CHUNK]]
                for values in chunk:
                    for index, convert in converters:
                        if values[index] is not None:
                            values[index] = convert(values[index])
                cursor.executemany(sql, chunk)


def _default(field: models.Field):
    if field.has_default():
        return field.get_default()
    if field.null:
        return None
    value = field.get_default()  # "" for text fields
    if value is None:
        raise CommandError(
            f"seed_demo does not fill {field.model._meta.db_table}.{field.column}, "
            "a NOT NULL column without a default: add it to the generated rows."
        )
    return value


def _converter(connection, field: models.Field):
    """Python value → database value where the driver needs help (SQLite datetimes/dates)."""
    if connection.vendor == "postgresql":
        return None  # psycopg adapts aware datetimes, dates and booleans itself
    if isinstance(field, models.DateTimeField):
        return _datetime_converter(connection)
    if isinstance(field, models.DateField):
        return connection.ops.adapt_datefield_value
    return None


def _datetime_converter(connection):
    """Django's adapter, with a shortcut for UTC values into a UTC database (all of ours):
    the adapter's timezone conversion is a third of the SQLite seed's time otherwise."""
    adapt = connection.ops.adapt_datetimefield_value
    utc_database = connection.timezone == UTC

    def convert(value):
        if utc_database and value.tzinfo is UTC:
            return str(value.replace(tzinfo=None))
        return adapt(value)

    return convert


def history_insert(
    connection,
    model: type[models.Model],
    *,
    ids: range,
    date_column: str,
    reason: str,
    source: str,
) -> int:
    """One history row ('+', no user) per row of `model` with an id in `ids`, set-based.

    The row's own `date_column` becomes its `history_date`, so the timeline shows when the
    consent was given rather than when the demo data was loaded.
    """
    if not ids:
        return 0
    history = model.history.model
    tracked = [f.column for f in history._meta.concrete_fields if f.name not in HISTORY_FIELDS]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(c) for c in tracked)
    sql = (
        f"INSERT INTO {quote(history._meta.db_table)} ({columns}, history_date, "
        "history_change_reason, history_type, history_user_id, history_source) "
        f"SELECT {columns}, {quote(date_column)}, %s, '+', NULL, %s "
        f"FROM {quote(model._meta.db_table)} WHERE id BETWEEN %s AND %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [reason, source, ids.start, ids.stop - 1])
        return cursor.rowcount


def next_id(model: type[models.Model]) -> int:
    last = model._default_manager.order_by("-pk").values_list("pk", flat=True).first()
    return (last or 0) + 1


def reset_sequences(connection, model_list: list[type[models.Model]]) -> None:
    """After inserting explicit ids: the next ORM insert must not collide (PostgreSQL)."""
    statements = connection.ops.sequence_reset_sql(no_style(), model_list)
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)


def analyze(connection, model_list: list[type[models.Model]]) -> None:
    """Fresh planner statistics, so the first queries after a big load plan well (PostgreSQL;
    autovacuum sets the visibility map later, the benchmarks VACUUM themselves)."""
    if connection.vendor != "postgresql":
        return
    quote = connection.ops.quote_name
    tables = ", ".join(quote(t) for t in sorted(_tables_with_history(model_list)))
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {tables}")


@contextmanager
def indexes_and_foreign_keys_deferred(connection, model_list: list[type[models.Model]]):
    """PostgreSQL bulk-load pattern: drop the secondary indexes and foreign keys of the tables
    (and of their history tables), load, then rebuild them set-based — one index build and one
    validating join per constraint instead of millions of per-row index inserts and RI checks.

    Must run inside a transaction: if the load fails, the DDL rolls back with it. Primary keys
    and indexes that back a unique constraint stay (they guard the data being loaded).
    """
    tables = _tables_with_history(model_list)
    with connection.cursor() as cursor:
        # Rows written earlier in the transaction: check them now, or the DDL is refused.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(FOREIGN_KEYS_SQL, [tables])
        foreign_keys = cursor.fetchall()
        cursor.execute(SECONDARY_INDEXES_SQL, [tables])
        indexes = cursor.fetchall()
        quote = connection.ops.quote_name
        for table, name, _ in foreign_keys:
            cursor.execute(f"ALTER TABLE {quote(table)} DROP CONSTRAINT {quote(name)}")
        for name, _ in indexes:
            cursor.execute(f"DROP INDEX {quote(name)}")
    yield
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
        for _, definition in indexes:
            cursor.execute(definition)
        for table, name, definition in foreign_keys:
            cursor.execute(f"ALTER TABLE {quote(table)} ADD CONSTRAINT {quote(name)} {definition}")


def _tables_with_history(model_list: list[type[models.Model]]) -> list[str]:
    tables = [m._meta.db_table for m in model_list]
    tables += [m.history.model._meta.db_table for m in model_list if hasattr(m, "history")]
    return tables


COLUMN_TYPES_SQL = """
SELECT attname, atttypid::int FROM pg_attribute
WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped
"""
FOREIGN_KEYS_SQL = """
SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid)
FROM pg_constraint c
WHERE c.contype = 'f' AND c.conrelid::regclass::text = ANY(%s)
ORDER BY 1, 2
"""
# Indexes that are neither the primary key nor the index of a (unique) constraint.
SECONDARY_INDEXES_SQL = """
SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
FROM pg_index i
WHERE i.indrelid::regclass::text = ANY(%s)
  AND NOT i.indisprimary
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
ORDER BY 1
"""
