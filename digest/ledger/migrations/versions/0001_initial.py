"""The ledger as first released: subscribers, issues, deliveries, bounces, relay usage,
week states, leases and the summary cache.

A database made before the ledger carried a schema version has exactly these tables;
`digest db upgrade` stamps it with this revision and goes on from there.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from digest.ledger.tables import UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "subscribers",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.String(320), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("paused_until", UtcDateTime(), nullable=True),
        sa.Column("confirmation_sent_at", UtcDateTime(), nullable=True),
    )
    op.create_table(
        "issues",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("newsletter", sa.String(200), nullable=False),
        sa.Column("week", sa.String(8), nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("preheader", sa.Text, nullable=False),
        sa.Column("html", sa.Text, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("web_html", sa.Text, nullable=False),
        sa.Column("issue_json", sa.Text, nullable=False),
        sa.Column("built_at", UtcDateTime(), nullable=False),
        sa.UniqueConstraint("newsletter", "week", name="uq_issue_week"),
        sa.UniqueConstraint("newsletter", "number", name="uq_issue_number"),
    )
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("issue_id", sa.Integer, sa.ForeignKey("issues.id"), nullable=False),
        sa.Column("subscriber_id", sa.Integer, sa.ForeignKey("subscribers.id"), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("message_id", sa.String(200), nullable=False),
        sa.Column("smtp_code", sa.Integer, nullable=True),
        sa.Column("smtp_reply", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("retry_at", UtcDateTime(), nullable=True),
        sa.Column("relay", sa.String(200), nullable=True),
        sa.UniqueConstraint("issue_id", "subscriber_id", name="uq_delivery"),
    )
    op.create_index("ix_deliveries_issue_state", "deliveries", ["issue_id", "state"])
    op.create_table(
        "bounces",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("subscriber_id", sa.Integer, sa.ForeignKey("subscribers.id"), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_bounces_subscriber", "bounces", ["subscriber_id"])
    op.create_table(
        "relay_usage",
        sa.Column("relay", sa.String(200), primary_key=True),
        sa.Column("minute", UtcDateTime(), primary_key=True),
        sa.Column("count", sa.Integer, nullable=False),
    )
    op.create_table(
        "week_states",
        sa.Column("newsletter", sa.String(200), primary_key=True),
        sa.Column("week", sa.String(8), primary_key=True),
        sa.Column("held", sa.Boolean, nullable=False),
        sa.Column("held_at", UtcDateTime(), nullable=True),
        sa.Column("previewed_at", UtcDateTime(), nullable=True),
        sa.Column("notice", sa.Text, nullable=True),
    )
    op.create_table(
        "leases",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "summary_cache",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("method", sa.String(40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
