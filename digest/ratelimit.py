"""Rate limits of one relay: messages per second, and at most so many in any sliding hour.

The limits hold for the relay, not for one process: slots are granted by a budget kept in
the ledger (the relay's next free slot, and the slots granted per minute), so every worker
sending through the relay, on any machine, draws from the same budget, and a restarted
send counts what the last hour already used. Each grant covers a short run of slots
(a tenth of a second's worth), so the ledger is asked about ten times a second at most.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

HOUR = dt.timedelta(hours=1)
WallClock = Callable[[], dt.datetime]
_MAX_RUN = 64  # slots in one grant when only the hourly quota applies
_QUOTA_POLL = 5.0  # seconds between two looks at a spent hourly quota


def minute_of(moment: dt.datetime) -> dt.datetime:
    """The start of the minute holding ``moment`` (the bucket key)."""
    return moment.replace(second=0, microsecond=0)


@dataclass(frozen=True, slots=True)
class Limits:
    """A relay's limits; 0 means no limit."""

    per_second: float
    per_hour: int

    @property
    def interval(self) -> float:
        return 1.0 / self.per_second if self.per_second > 0 else 0.0

    @property
    def run(self) -> int:
        """How many slots to ask for at once."""
        if self.per_second > 0:
            return max(1, min(math.ceil(self.per_second / 10), _MAX_RUN))
        return _MAX_RUN


@dataclass(frozen=True, slots=True)
class Grant:
    """Slots granted on a relay: ``count`` of them, the first at ``first`` (epoch seconds),
    then one every ``interval``; none when the hourly quota is spent until ``retry_at``."""

    count: int
    first: float
    interval: float
    retry_at: float = 0.0


class Budget(Protocol):
    """Where a relay's slots are granted from: the ledger, or memory for a lone preview."""

    def reserve(self, relay: str, want: int, limits: Limits, now: dt.datetime) -> Grant: ...


def plan_grant(
    next_slot: float,
    now: dt.datetime,
    want: int,
    limits: Limits,
    hour: list[tuple[dt.datetime, int]],
) -> Grant:
    """The grant for ``want`` slots, given the relay's next free slot and the slots granted
    per minute over the last hour (oldest first). Pure: both budgets use it."""
    count = want
    if limits.per_hour:
        used = sum(n for minute, n in hour if minute > now - HOUR)
        room = limits.per_hour - used
        if room <= 0:
            # The oldest minute leaves the window one hour after it began.
            oldest = min(minute for minute, n in hour if minute > now - HOUR)
            return Grant(0, 0.0, 0.0, (oldest + HOUR).timestamp())
        count = min(count, room)
    first = max(next_slot, now.timestamp())
    return Grant(count, first, limits.interval)


class MemoryBudget:
    """A budget for one process alone (previews, tests): the same rules, kept in memory."""

    def __init__(self) -> None:
        self._next: dict[str, float] = {}
        self._minutes: dict[str, deque[tuple[dt.datetime, int]]] = {}

    def reserve(self, relay: str, want: int, limits: Limits, now: dt.datetime) -> Grant:
        minutes = self._minutes.setdefault(relay, deque())
        while minutes and minutes[0][0] <= now - HOUR:
            minutes.popleft()
        grant = plan_grant(self._next.get(relay, 0.0), now, want, limits, list(minutes))
        if grant.count:
            self._next[relay] = grant.first + grant.count * grant.interval
            minute = minute_of(now)
            if minutes and minutes[-1][0] == minute:
                minutes[-1] = (minute, minutes[-1][1] + grant.count)
            else:
                minutes.append((minute, grant.count))
        return grant


class RateLimiter:
    """Spaces one relay's messages by the slots its budget grants."""

    def __init__(
        self,
        relay: str,
        limits: Limits,
        budget: Budget | None = None,
        *,
        shared: bool = False,
        wall: WallClock = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.relay = relay
        self.limits = limits
        self._budget: Budget = budget or MemoryBudget()
        # A shared budget is the ledger: asked from a thread, not the event loop.
        self._shared = shared
        self._wall = wall
        self._slots: deque[float] = deque()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        """Wait for this relay's next slot."""
        if not self.limits.per_second and not self.limits.per_hour:
            return
        async with self._lock:
            while not self._slots:
                grant = await self._reserve()
                if grant.count:
                    self._slots.extend(grant.first + i * grant.interval for i in range(grant.count))
                    break
                pause = grant.retry_at - self._wall().timestamp()
                await asyncio.sleep(min(max(pause, 0.001), _QUOTA_POLL))
            slot = self._slots.popleft()
        delay = slot - self._wall().timestamp()
        if delay > 0:
            await asyncio.sleep(delay)

    async def _reserve(self) -> Grant:
        now = self._wall()
        if self._shared:
            return await asyncio.to_thread(
                self._budget.reserve, self.relay, self.limits.run, self.limits, now
            )
        return self._budget.reserve(self.relay, self.limits.run, self.limits, now)
