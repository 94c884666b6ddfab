"""Week states (held, previewed, notices) and the scheduler's lease; mixed into Ledger."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from digest.ledger.tables import leases, week_states
from digest.models import IsoWeek


@dataclass(frozen=True, slots=True)
class WeekState:
    """What editors decided or were told about one week."""

    held: bool = False
    previewed_at: dt.datetime | None = None
    notice: str = ""


class CalendarBook:
    """Holds, previews and the scheduler lease; Ledger provides ``_tx``."""

    _tx: Callable[[], AbstractContextManager[sa.Connection]]

    def week_state(self, newsletter: str, week: IsoWeek) -> WeekState:
        """The week's editorial state (nothing recorded means not held, not previewed)."""
        with self._tx() as conn:
            row = conn.execute(
                sa.select(week_states).where(
                    week_states.c.newsletter == newsletter, week_states.c.week == str(week)
                )
            ).first()
        if row is None:
            return WeekState()
        previewed = row.previewed_at
        return WeekState(bool(row.held), previewed, row.notice or "")

    def set_held(self, newsletter: str, week: IsoWeek, held: bool, now: dt.datetime) -> None:
        """Hold (or release) the week's scheduled send."""
        self._upsert_week(newsletter, week, held=held, held_at=now if held else None)

    def mark_previewed(self, newsletter: str, week: IsoWeek, now: dt.datetime) -> None:
        """Record that the editors were sent the preview."""
        self._upsert_week(newsletter, week, previewed_at=now)

    def record_notice(self, newsletter: str, week: IsoWeek, notice: str) -> None:
        """Keep the last notice about the week (thin week, missed run) for `digest status`."""
        self._upsert_week(newsletter, week, notice=notice)

    def _upsert_week(self, newsletter: str, week: IsoWeek, **values: object) -> None:
        key = {"newsletter": newsletter, "week": str(week)}
        with self._tx() as conn:
            updated = conn.execute(
                week_states.update()
                .where(week_states.c.newsletter == newsletter, week_states.c.week == str(week))
                .values(**values)
            )
            if updated.rowcount == 0:
                conn.execute(week_states.insert().values(**{"held": False, **key, **values}))

    def acquire_lease(self, name: str, holder: str, now: dt.datetime, ttl: dt.timedelta) -> bool:
        """Take or renew the lease ``name``; False while another holder's lease is live."""
        try:
            with self._tx() as conn:
                row = conn.execute(
                    sa.select(leases.c.holder, leases.c.expires_at)
                    .where(leases.c.name == name)
                    .with_for_update()
                ).first()
                if row is None:
                    conn.execute(
                        leases.insert().values(name=name, holder=holder, expires_at=now + ttl)
                    )
                    return True
                if row.holder != holder and row.expires_at > now:
                    return False
                conn.execute(
                    leases.update()
                    .where(leases.c.name == name)
                    .values(holder=holder, expires_at=now + ttl)
                )
        except IntegrityError:
            return False  # another process inserted the lease first
        return True

    def lease_holder(self, name: str, now: dt.datetime) -> str | None:
        """Who holds a live lease ``name``, if anyone."""
        with self._tx() as conn:
            row = conn.execute(sa.select(leases).where(leases.c.name == name)).first()
        if row is None or row.expires_at <= now:
            return None
        return str(row.holder)

    def release_lease(self, name: str, holder: str) -> None:
        """Give the lease up (on a clean stop), so a successor need not wait for expiry."""
        with self._tx() as conn:
            conn.execute(leases.delete().where(leases.c.name == name, leases.c.holder == holder))
