"""The ledger's tables (SQLAlchemy Core); the same schema on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

subscribers = sa.Table(
    "subscribers",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("email", sa.String(320), nullable=False, unique=True),
    sa.Column("name", sa.String(200), nullable=False, default=""),
    # active | unsubscribed | bounced: only active addresses are ever contacted.
    sa.Column("status", sa.String(20), nullable=False, default="active"),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

issues = sa.Table(
    "issues",
    metadata,
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
    sa.Column("built_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("newsletter", "week", name="uq_issue_week"),
    sa.UniqueConstraint("newsletter", "number", name="uq_issue_number"),
)

deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("issue_id", sa.Integer, sa.ForeignKey("issues.id"), nullable=False),
    sa.Column("subscriber_id", sa.Integer, sa.ForeignKey("subscribers.id"), nullable=False),
    sa.Column("email", sa.String(320), nullable=False),
    # pending -> sending -> sent | deferred | bounced | failed
    sa.Column("state", sa.String(12), nullable=False, default="pending"),
    sa.Column("message_id", sa.String(200), nullable=False),
    sa.Column("smtp_code", sa.Integer, nullable=True),
    sa.Column("smtp_reply", sa.Text, nullable=False, default=""),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("issue_id", "subscriber_id", name="uq_delivery"),
    sa.Index("ix_deliveries_issue_state", "issue_id", "state"),
)
