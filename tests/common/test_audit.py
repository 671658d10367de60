"""The one builder of set-based history rows (common.audit.history_insert_sql), as the expiry
sweeps and the consent load's write use it."""

import re

import pytest
from django.db import connection

from common import audit
from consent.loads.writers import _history_sql
from consent.models import ContactPointConsent, DataConsent

History = ContactPointConsent.history.model


def inserted_columns(sql: str) -> list[str]:
    head = re.search(r"INSERT INTO \S+ \(([^)]*)\)", sql).group(1)
    return [name.strip().strip('"') for name in head.split(",")]


def test_the_load_writes_every_history_column_from_the_written_row_and_the_load():
    sql = _history_sql()
    columns = [f.column for f in History._meta.concrete_fields if not f.primary_key]

    assert inserted_columns(sql) == columns
    assert sql.endswith(" FROM w")
    assert "CASE WHEN w.created THEN '+' ELSE '~' END" in sql
    for parameter in ("history_date", "history_change_reason", "history_user_id"):
        assert f"%({parameter})s" in sql
    assert "%(history_type)s" not in sql and "%(history_source)s" not in sql


def test_a_sweep_takes_every_audit_field_from_its_parameters():
    sql = audit.history_insert_sql(
        DataConsent, rows="expired", quote_name=connection.ops.quote_name
    )

    for parameter in audit.history_params(now=None, reason="expired", source="system"):
        assert f"%({parameter})s" in sql


def test_a_history_column_the_builder_has_no_value_for_raises(monkeypatch):
    # As a new history column would: neither tracked, nor a parameter, nor given a value.
    monkeypatch.setattr(audit, "HISTORY_PARAMS", ("history_date", "history_change_reason"))

    with pytest.raises(RuntimeError, match="no value for history column history_user_id"):
        _history_sql()
    with pytest.raises(RuntimeError, match="no value for history column"):
        audit.history_insert_sql(DataConsent, rows="r", quote_name=connection.ops.quote_name)


def test_a_value_for_a_column_the_history_lacks_raises():
    with pytest.raises(RuntimeError, match="history_sauce"):
        audit.history_insert_sql(
            ContactPointConsent,
            rows="w",
            quote_name=connection.ops.quote_name,
            values={"history_sauce": "w.source"},
        )
