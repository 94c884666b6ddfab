"""The ledger's schema version: made at the current version when the database is new,
checked on every open, upgraded in place only by `digest db upgrade` (Alembic)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from digest.errors import LedgerError
from digest.ledger.tables import metadata

MIGRATIONS = Path(__file__).with_name("migrations")
# The revision that describes a database made before the ledger carried a version.
BASELINE = "0001"
# Any constant: PostgreSQL serialises the schema work of processes starting together.
_SCHEMA_LOCK = 7_240_315


@dataclass(frozen=True, slots=True)
class Upgrade:
    """What `digest db upgrade` did: the revision before (None: new or unversioned), after."""

    before: str | None
    after: str
    applied: tuple[str, ...]


@functools.cache
def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


@functools.cache
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(_config())


def head() -> str:
    """The revision this version of digest works with."""
    revision = _scripts().get_current_head()
    assert revision is not None
    return revision


def ensure_current(conn: sa.Connection, where: str) -> None:
    """Create the tables of a new database; refuse one at another revision, saying why."""
    _lock(conn)
    current = MigrationContext.configure(conn).get_current_revision()
    if current == head():
        return
    if current is None and not _has_ledger_tables(conn):
        metadata.create_all(conn)
        MigrationContext.configure(conn).stamp(_scripts(), head())
        return
    raise LedgerError(_mismatch(current, where))


def upgrade(conn: sa.Connection) -> Upgrade:
    """Bring the database to the current revision in place, keeping every row."""
    _lock(conn)
    before = MigrationContext.configure(conn).get_current_revision()
    if before is not None and not _known(before):
        raise LedgerError(
            f"the database is at schema revision {before}, which this digest does not know "
            "(made by a newer version?): upgrade digest"
        )
    if before is None and not _has_ledger_tables(conn):
        ensure_current(conn, "")
        return Upgrade(None, head(), ())
    if before is None:
        MigrationContext.configure(conn).stamp(_scripts(), BASELINE)
    start = before or BASELINE
    applied = tuple(
        script.revision
        for script in reversed(list(_scripts().walk_revisions(start, head())))
        if script.revision != start
    )
    migrate_to(conn, "head")
    return Upgrade(before, head(), applied)


def migrate_to(conn: sa.Connection, revision: str) -> None:
    """Apply the migrations from the database's revision up to ``revision``."""
    config = _config()
    config.attributes["connection"] = conn
    command.upgrade(config, revision)


def _mismatch(current: str | None, where: str) -> str:
    if current is None:
        return (
            f"database {where} was made by an earlier digest (its schema has no version): "
            "run 'digest db upgrade' to bring it up to date"
        )
    if _known(current):
        return (
            f"database {where} is at schema revision {current}, this digest needs {head()}: "
            "run 'digest db upgrade'"
        )
    return (
        f"database {where} is at schema revision {current}, which this digest does not know "
        "(made by a newer version?): upgrade digest"
    )


def _known(revision: str) -> bool:
    return any(script.revision == revision for script in _scripts().walk_revisions())


def _has_ledger_tables(conn: sa.Connection) -> bool:
    present = set(sa.inspect(conn).get_table_names())
    return bool(present & set(metadata.tables))


def _lock(conn: sa.Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK})
