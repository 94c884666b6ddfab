"""Rate limits of one relay: messages per second, and a sliding hour kept in minute buckets.

The minute buckets are what the ledger stores, so a restarted send counts what the
previous run already handed to the relay within the hour.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections import deque
from collections.abc import Callable, Iterable

HOUR = dt.timedelta(hours=1)
WallClock = Callable[[], dt.datetime]


def minute_of(moment: dt.datetime) -> dt.datetime:
    """The start of the minute holding ``moment`` (the bucket key)."""
    return moment.replace(second=0, microsecond=0)


class RateLimiter:
    """Spaces messages at ``per_second`` and keeps at most ``per_hour`` in any sliding hour."""

    def __init__(
        self,
        per_second: float,
        per_hour: int,
        history: Iterable[tuple[dt.datetime, int]] = (),
        wall: WallClock = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self._interval = 1.0 / per_second if per_second > 0 else 0.0
        self._per_hour = per_hour
        self._wall = wall
        self._next = 0.0
        self._buckets: deque[tuple[dt.datetime, int]] = deque(sorted(history))
        self._unsaved: dict[dt.datetime, int] = {}

    def hour_wait(self, now: dt.datetime) -> float:
        """Seconds until the hourly quota lets one more message through (0 when it does)."""
        if not self._per_hour:
            return 0.0
        while self._buckets and self._buckets[0][0] <= now - HOUR:
            self._buckets.popleft()
        used = sum(count for _, count in self._buckets)
        if used < self._per_hour:
            return 0.0
        # The oldest bucket leaves the window one hour after its minute started.
        return max((self._buckets[0][0] + HOUR - now).total_seconds(), 0.001)

    async def acquire(self) -> None:
        """Wait for this relay's next free slot, then count the message."""
        # Polling: the window frees itself with time, no event announces it.
        while wait := self.hour_wait(self._wall()):  # noqa: ASYNC110
            await asyncio.sleep(min(wait, 5.0))
        if self._interval:
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + self._interval
            if slot > now:
                await asyncio.sleep(slot - now)
        self._count(minute_of(self._wall()))

    def drain_usage(self) -> dict[dt.datetime, int]:
        """Counts per minute not yet saved in the ledger; they are saved by the caller."""
        usage, self._unsaved = self._unsaved, {}
        return usage

    def _count(self, minute: dt.datetime) -> None:
        if self._buckets and self._buckets[-1][0] == minute:
            self._buckets[-1] = (minute, self._buckets[-1][1] + 1)
        else:
            self._buckets.append((minute, 1))
        self._unsaved[minute] = self._unsaved.get(minute, 0) + 1
