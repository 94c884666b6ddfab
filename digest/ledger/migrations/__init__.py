"""Alembic migrations of the ledger: each revision upgrades a database in place."""
