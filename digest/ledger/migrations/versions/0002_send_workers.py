"""Many send workers on one ledger: claims on deliveries, worker leases, a shared rate budget.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from digest.ledger.tables import UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("claimed_by", sa.String(120), nullable=True))
    op.create_index("ix_deliveries_claim", "deliveries", ["issue_id", "state", "id"])
    op.drop_index("ix_deliveries_issue_state", table_name="deliveries")
    op.create_table(
        "send_workers",
        sa.Column("id", sa.String(120), primary_key=True),
        sa.Column("issue_id", sa.Integer, sa.ForeignKey("issues.id"), nullable=False),
        sa.Column("host", sa.String(200), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("started_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.Column("stopped_at", UtcDateTime(), nullable=True),
    )
    op.create_index("ix_send_workers_issue", "send_workers", ["issue_id"])
    op.create_table(
        "relay_budget",
        sa.Column("relay", sa.String(200), primary_key=True),
        sa.Column("next_slot", sa.Float, nullable=False),
    )
