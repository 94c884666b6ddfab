"""The ledger's schema: versioned, upgraded in place by `digest db upgrade`, rows kept."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from digest.errors import LedgerError
from digest.ledger import Ledger, upgrade_database
from digest.ledger.schema import head, migrate_to
from digest.ledger.tables import metadata
from digest.models import IsoWeek

NOW = dt.datetime(2025, 1, 24, 6, 0, tzinfo=dt.UTC)
ROOT = Path(__file__).resolve().parent.parent


def _at_first_revision(url: str, *, versioned: bool = True) -> None:
    """A database as the first release made it, with a subscriber, an issue and a delivery."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            migrate_to(conn, "0001")
            conn.execute(
                sa.text(
                    "INSERT INTO subscribers (id, email, name, status, created_at) "
                    "VALUES (1, 'ana@example.org', 'Ana', 'active', :now), "
                    "(2, 'bob@example.org', 'Bob', 'active', :now)"
                ),
                {"now": NOW},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO issues (id, newsletter, week, number, subject, preheader, html, "
                    "text, web_html, issue_json, built_at) VALUES (1, 'Toujours+', '2025-W04', "
                    "1, 'Sujet', 'Pré', '<p>h</p>', 't', '<p>w</p>', '{}', :now)"
                ),
                {"now": NOW},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO deliveries (issue_id, subscriber_id, email, state, message_id, "
                    "smtp_code, smtp_reply, attempts, updated_at) VALUES "
                    "(1, 1, 'ana@example.org', 'sent', '<1@x>', 250, 'ok', 1, :now), "
                    "(1, 2, 'bob@example.org', 'pending', '<2@x>', NULL, '', 0, :now)"
                ),
                {"now": NOW},
            )
            if not versioned:
                conn.execute(sa.text("DROP TABLE alembic_version"))
    finally:
        engine.dispose()


def test_a_database_of_the_previous_version_is_refused_until_upgraded_and_keeps_its_rows(
    database_url: str,
) -> None:
    _at_first_revision(database_url)
    with pytest.raises(LedgerError, match=r"revision 0001, .* run 'digest db upgrade'"):
        Ledger(database_url)

    done = upgrade_database(database_url)
    assert (done.before, done.after, done.applied) == ("0001", head(), ("0002", "0003"))
    ledger = Ledger(database_url)
    try:
        saved = ledger.load_issue("Toujours+", _week())
        assert saved is not None and saved.rendered.subject == "Sujet"
        assert ledger.counts(saved.id) == {"sent": 1, "pending": 1}
        assert [s.email for s, _ in ledger.list_subscribers()] == [
            "ana@example.org",
            "bob@example.org",
        ]
        # The upgraded rows work with what came after: a worker claims the pending one.
        (task,) = ledger.claim_page(saved.id, "host:1:w", 10, NOW)
        assert task.subscriber.email == "bob@example.org"
    finally:
        ledger.close()
    assert upgrade_database(database_url).applied == ()


def test_a_database_from_before_schema_versions_is_stamped_then_upgraded(
    database_url: str,
) -> None:
    _at_first_revision(database_url, versioned=False)
    with pytest.raises(LedgerError, match=r"no version\): run 'digest db upgrade'"):
        Ledger(database_url)
    done = upgrade_database(database_url)
    assert (done.before, done.applied) == (None, ("0002", "0003"))
    Ledger(database_url).close()


def test_a_schema_newer_than_this_version_is_refused(database_url: str) -> None:
    Ledger(database_url).close()
    engine = sa.create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    with pytest.raises(LedgerError, match="revision 9999, which this digest does not know"):
        Ledger(database_url)
    with pytest.raises(LedgerError, match="upgrade digest"):
        upgrade_database(database_url)


def test_the_migrations_make_the_same_schema_as_a_new_database(database_url: str) -> None:
    engine = sa.create_engine(database_url)
    try:
        with engine.begin() as conn:
            migrate_to(conn, "head")
        migrated = _shape(engine)
        with engine.begin() as conn:
            reflected = sa.MetaData()
            reflected.reflect(conn)
            reflected.drop_all(conn)
        # The same server, now empty: a new ledger makes its tables from the models.
        Ledger(database_url).close()
        fresh = _shape(engine)
    finally:
        engine.dispose()
    assert migrated == fresh
    assert set(migrated) == set(metadata.tables) | {"alembic_version"}


def test_db_upgrade_from_the_command_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    _at_first_revision(url)
    env = {**os.environ, "DIGEST_DATABASE__URL": url, "PYTHONPATH": str(ROOT)}

    def digest(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "digest.cli", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=60,
        )

    refused = digest("subscribers", "list")
    assert refused.returncode == 1
    assert refused.stderr.strip().endswith("run 'digest db upgrade'")
    upgraded = digest("db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert f"upgraded from 0001 to {head()} (applied: 0002, 0003)" in upgraded.stdout
    listed = digest("subscribers", "list")
    assert listed.returncode == 0, listed.stderr
    assert "ana@example.org" in listed.stdout and "bob@example.org" in listed.stdout


def _week() -> IsoWeek:
    return IsoWeek(2025, 4)


def _shape(engine: sa.Engine) -> dict[str, object]:
    """Tables, their columns (name, nullable, type family) and indexes, as reflected."""
    inspector = sa.inspect(engine)
    shape: dict[str, object] = {}
    for table in inspector.get_table_names():
        columns = sorted(
            (c["name"], c["nullable"], type(c["type"]).__name__.upper()[:4])
            for c in inspector.get_columns(table)
        )
        indexes = sorted(
            (i["name"] or "", tuple(i["column_names"]), bool(i["unique"]))
            for i in inspector.get_indexes(table)
        )
        uniques = sorted(tuple(u["column_names"]) for u in inspector.get_unique_constraints(table))
        shape[table] = (columns, indexes, uniques)
    return shape
