"""Each subscriber's bounce record: a hard bounce suppresses, soft ones after a threshold."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from contextlib import AbstractContextManager

import sqlalchemy as sa

from digest.ledger.tables import bounces, deliveries, subscribers
from digest.models import DeliveryState, Outcome

ACTIVE = "active"
BOUNCED = "bounced"
HARD, SOFT = "hard", "soft"


class BounceBook:
    """Bounces heard of after the send (DSNs); mixed into Ledger, which provides ``_tx``."""

    _tx: Callable[[], AbstractContextManager[sa.Connection]]

    def record_bounce(
        self, email: str, kind: str, reason: str, now: dt.datetime, soft_limit: int
    ) -> str | None:
        """Add a bounce to the record; the subscriber's status after it, None if unknown."""
        with self._tx() as conn:
            row = conn.execute(
                sa.select(subscribers.c.id, subscribers.c.status).where(
                    subscribers.c.email == email
                )
            ).first()
            if row is None:
                return None
            return _add_bounce(conn, int(row.id), str(row.status), kind, reason, now, soft_limit)


def record_send_bounce(
    conn: sa.Connection, delivery_id: int, outcome: Outcome, now: dt.datetime
) -> None:
    """A 5xx on RCPT at send time is a hard bounce of that row's subscriber."""
    if outcome.state is not DeliveryState.BOUNCED:
        return
    row = conn.execute(
        sa.select(subscribers.c.id, subscribers.c.status)
        .join(deliveries, deliveries.c.subscriber_id == subscribers.c.id)
        .where(deliveries.c.id == delivery_id)
    ).first()
    if row is not None:
        reason = f"{outcome.code} {outcome.reply}"[:2000]
        _add_bounce(conn, int(row.id), str(row.status), HARD, reason, now, 1)


def _add_bounce(
    conn: sa.Connection,
    sid: int,
    status: str,
    kind: str,
    reason: str,
    now: dt.datetime,
    soft_limit: int,
) -> str:
    conn.execute(bounces.insert().values(subscriber_id=sid, kind=kind, reason=reason, at=now))
    if status != ACTIVE:
        return status
    if kind == SOFT:
        softs = conn.execute(
            sa.select(sa.func.count()).where(bounces.c.subscriber_id == sid, bounces.c.kind == SOFT)
        ).scalar()
        if int(softs or 0) < soft_limit:
            return status
    conn.execute(subscribers.update().where(subscribers.c.id == sid).values(status=BOUNCED))
    return BOUNCED
