"""The ledger's tables (SQLAlchemy Core); the same schema on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa


class UtcDateTime(sa.types.TypeDecorator[dt.datetime]):
    """An aware datetime stored as UTC and read back aware, on SQLite as on PostgreSQL.

    SQLite keeps no offset: without this, a Paris time would come back an hour off.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: sa.Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("the ledger stores aware datetimes only")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> dt.datetime | None:
        if value is None:
            return None
        moment: dt.datetime = value
        if moment.tzinfo is None:
            return moment.replace(tzinfo=dt.UTC)
        return moment.astimezone(dt.UTC)


metadata = sa.MetaData()

subscribers = sa.Table(
    "subscribers",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("email", sa.String(320), nullable=False, unique=True),
    sa.Column("name", sa.String(200), nullable=False, default=""),
    # pending (not confirmed) | active | paused | unsubscribed | bounced:
    # only active addresses are ever sent an issue.
    sa.Column("status", sa.String(20), nullable=False, default="active"),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("paused_until", UtcDateTime(), nullable=True),
    sa.Column("confirmation_sent_at", UtcDateTime(), nullable=True),
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
    sa.Column("built_at", UtcDateTime(), nullable=False),
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
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    # When a deferred row may be tried again (exponential backoff with jitter).
    sa.Column("retry_at", UtcDateTime(), nullable=True),
    # The relay that took (or refused) the message.
    sa.Column("relay", sa.String(200), nullable=True),
    # The send worker holding the row (kept once sent: who sent it).
    sa.Column("claimed_by", sa.String(120), nullable=True),
    sa.UniqueConstraint("issue_id", "subscriber_id", name="uq_delivery"),
    # Claims read the issue's pending rows in id order: the index hands them over in order.
    sa.Index("ix_deliveries_claim", "issue_id", "state", "id"),
)

# Every answer to a delivery that was not an acceptance, oldest first: the deferrals before
# a row was sent, the refusal that bounced or failed it, a reply lost after DATA. The row
# itself keeps only its last answer.
delivery_replies = sa.Table(
    "delivery_replies",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("delivery_id", sa.Integer, sa.ForeignKey("deliveries.id"), nullable=False),
    sa.Column("at", UtcDateTime(), nullable=False),
    sa.Column("state", sa.String(12), nullable=False),
    sa.Column("smtp_code", sa.Integer, nullable=True),
    sa.Column("smtp_reply", sa.Text, nullable=False),
    sa.Column("relay", sa.String(200), nullable=True),
    sa.Index("ix_delivery_replies_delivery", "delivery_id", "id"),
)

# The processes sending an issue, each alive for as long as it renews its lease: a worker
# whose lease ran out lost its claims (its pending rows go back to the pool).
send_workers = sa.Table(
    "send_workers",
    metadata,
    sa.Column("id", sa.String(120), primary_key=True),
    sa.Column("issue_id", sa.Integer, sa.ForeignKey("issues.id"), nullable=False),
    sa.Column("host", sa.String(200), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("started_at", UtcDateTime(), nullable=False),
    sa.Column("expires_at", UtcDateTime(), nullable=False),
    sa.Column("stopped_at", UtcDateTime(), nullable=True),
    sa.Index("ix_send_workers_issue", "issue_id"),
)

# Each relay's next free slot (seconds since the epoch), shared by every worker: the
# per-second limit of a relay holds whatever the number of senders.
relay_budget = sa.Table(
    "relay_budget",
    metadata,
    sa.Column("relay", sa.String(200), primary_key=True),
    sa.Column("next_slot", sa.Float, nullable=False),
)

# Every bounce heard of, at send time (5xx on RCPT) or from a DSN: a subscriber's record.
bounces = sa.Table(
    "bounces",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("subscriber_id", sa.Integer, sa.ForeignKey("subscribers.id"), nullable=False),
    # hard (permanent, 5.x.x) | soft (transient, 4.x.x)
    sa.Column("kind", sa.String(8), nullable=False),
    sa.Column("reason", sa.Text, nullable=False, default=""),
    sa.Column("at", UtcDateTime(), nullable=False),
    sa.Index("ix_bounces_subscriber", "subscriber_id"),
)

# Slots granted on each relay per minute: the hourly quota holds across workers and restarts.
relay_usage = sa.Table(
    "relay_usage",
    metadata,
    sa.Column("relay", sa.String(200), primary_key=True),
    sa.Column("minute", UtcDateTime(), primary_key=True),
    sa.Column("count", sa.Integer, nullable=False, default=0),
)

# The editorial state of each week: held by an editor, previewed, a thin-week notice sent.
week_states = sa.Table(
    "week_states",
    metadata,
    sa.Column("newsletter", sa.String(200), primary_key=True),
    sa.Column("week", sa.String(8), primary_key=True),
    sa.Column("held", sa.Boolean, nullable=False, default=False),
    sa.Column("held_at", UtcDateTime(), nullable=True),
    sa.Column("previewed_at", UtcDateTime(), nullable=True),
    sa.Column("notice", sa.Text, nullable=True),
)

# Who may run the scheduler: one holder at a time, for as long as it renews its lease.
leases = sa.Table(
    "leases",
    metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("holder", sa.String(200), nullable=False),
    sa.Column("expires_at", UtcDateTime(), nullable=False),
)

# Summaries already written, keyed by a hash of (article text, summarizer settings, model):
# a rebuild reuses them byte for byte instead of summarizing again.
summary_cache = sa.Table(
    "summary_cache",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("method", sa.String(40), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)
