"""Every answer to a delivery that was not an acceptance, not only its last one.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from digest.ledger.tables import UtcDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "delivery_replies",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("delivery_id", sa.Integer, sa.ForeignKey("deliveries.id"), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("smtp_code", sa.Integer, nullable=True),
        sa.Column("smtp_reply", sa.Text, nullable=False),
        sa.Column("relay", sa.String(200), nullable=True),
    )
    op.create_index("ix_delivery_replies_delivery", "delivery_replies", ["delivery_id", "id"])
