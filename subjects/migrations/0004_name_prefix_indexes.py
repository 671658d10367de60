"""Name-prefix search at a million subjects (the admin's search box): on PostgreSQL, an index on
UPPER(name) with text_pattern_ops serves `name__istartswith` (`UPPER(name) LIKE 'PREFIX%'`)
so a search reads the matching rows instead of scanning the table. SQLite (development) scans.
"""

from django.db import migrations

INDEXES = [
    (table, column)
    for table in ("subjects_lead", "subjects_contact")
    for column in ("last_name", "first_name")
]


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table, column in INDEXES:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {table}_{column}_prefix_idx "
            f"ON {table} (UPPER({column}) text_pattern_ops)"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table, column in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {table}_{column}_prefix_idx")


class Migration(migrations.Migration):
    dependencies = [("subjects", "0003_protection_permission")]

    operations = [migrations.RunPython(create, drop)]
