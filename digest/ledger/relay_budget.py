"""The relays' shared rate budget: the next free slot of each relay, and the slots granted
per minute (for the sliding hour). One transaction per grant, holding the relay's row, so
workers on any number of machines draw slots one after the other."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from contextlib import AbstractContextManager

import sqlalchemy as sa

from digest.ledger.sql import insert_missing
from digest.ledger.tables import relay_budget, relay_usage
from digest.ratelimit import HOUR, Grant, Limits, minute_of, plan_grant


class RateBook:
    """Relay budgets; mixed into Ledger, which provides ``_tx``."""

    _tx: Callable[[], AbstractContextManager[sa.Connection]]

    def reserve(self, relay: str, want: int, limits: Limits, now: dt.datetime) -> Grant:
        """Grant up to ``want`` slots of the relay, spaced and within the hourly quota."""
        with self._tx() as conn:
            next_slot = _hold(conn, relay)
            hour = conn.execute(
                sa.select(relay_usage.c.minute, relay_usage.c.count)
                .where(relay_usage.c.relay == relay, relay_usage.c.minute > now - HOUR)
                .order_by(relay_usage.c.minute)
            ).all()
            grant = plan_grant(next_slot, now, want, limits, [(m, int(n)) for m, n in hour])
            if grant.count:
                conn.execute(
                    relay_budget.update()
                    .where(relay_budget.c.relay == relay)
                    .values(next_slot=grant.first + grant.count * grant.interval)
                )
                _add_usage(conn, relay, minute_of(now), grant.count)
        return grant

    def relay_usage_since(self, since: dt.datetime) -> dict[str, list[tuple[dt.datetime, int]]]:
        """Slots granted per relay and minute since ``since``."""
        usage: dict[str, list[tuple[dt.datetime, int]]] = {}
        with self._tx() as conn:
            rows = conn.execute(
                sa.select(relay_usage)
                .where(relay_usage.c.minute >= since)
                .order_by(relay_usage.c.minute)
            ).all()
        for row in rows:
            usage.setdefault(row.relay, []).append((row.minute, int(row[2])))
        return usage


def _hold(conn: sa.Connection, relay: str) -> float:
    """Lock the relay's budget row (made on first use) and read its next free slot."""
    touch = (
        relay_budget.update()
        .where(relay_budget.c.relay == relay)
        .values(next_slot=relay_budget.c.next_slot)
        .returning(relay_budget.c.next_slot)
    )
    value = conn.execute(touch).scalar()
    if value is None:
        insert_missing(conn, relay_budget, {"relay": relay, "next_slot": 0.0})
        value = conn.execute(touch).scalar()
    return float(value or 0.0)


def _add_usage(conn: sa.Connection, relay: str, minute: dt.datetime, count: int) -> None:
    # The relay's budget row is held: no other worker writes this relay's minutes now.
    updated = conn.execute(
        relay_usage.update()
        .where(relay_usage.c.relay == relay, relay_usage.c.minute == minute)
        .values(count=relay_usage.c.count + count)
    )
    if not updated.rowcount:
        conn.execute(relay_usage.insert().values(relay=relay, minute=minute, count=count))
