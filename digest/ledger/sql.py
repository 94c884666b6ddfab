"""Statements whose spelling differs between SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite


def insert_missing(
    conn: sa.Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]] | Mapping[str, Any]
) -> None:
    """Insert rows, skipping those whose unique key is already there (another worker's)."""
    if not rows:
        return
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    conn.execute(dialect.insert(table).on_conflict_do_nothing(), rows)


def refresh_statistics(conn: sa.Connection, table: sa.Table) -> None:
    """PostgreSQL: sample the table again, so the planner knows its size after bulk changes
    (until autovacuum comes by, a table filled a minute ago looks empty to it)."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text(f"ANALYZE {table.name}"))
