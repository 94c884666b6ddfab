"""Bring an existing database up to the current tables: new tables and new nullable columns."""

from __future__ import annotations

import sqlalchemy as sa


def upgrade_schema(engine: sa.Engine, metadata: sa.MetaData) -> list[str]:
    """Create missing tables, add missing nullable columns; returns what was added."""
    metadata.create_all(engine)
    added: list[str] = []
    inspector = sa.inspect(engine)
    with engine.begin() as conn:
        for table in metadata.sorted_tables:
            present = {column["name"] for column in inspector.get_columns(table.name)}
            for column in table.columns:
                # Only nullable columns can be added to a table that already has rows.
                if column.name in present or not column.nullable:
                    continue
                kind = column.type.compile(dialect=engine.dialect)
                conn.execute(sa.text(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}'))
                added.append(f"{table.name}.{column.name}")
    return added
