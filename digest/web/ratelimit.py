"""A bounded in-memory sliding window, per key (client address)."""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable


class SlidingWindow:
    """Allows at most ``limit`` events per key within ``seconds``; remembers ``max_keys`` keys."""

    def __init__(
        self,
        limit: int,
        seconds: float,
        *,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limit = limit
        self._seconds = seconds
        self._max_keys = max_keys
        self._clock = clock
        self._events: OrderedDict[str, deque[float]] = OrderedDict()

    def allow(self, key: str) -> bool:
        """Record an event for ``key`` if under the limit; False when over it."""
        now = self._clock()
        events = self._events.pop(key, deque())
        while events and now - events[0] >= self._seconds:
            events.popleft()
        allowed = len(events) < self._limit
        if allowed:
            events.append(now)
        self._events[key] = events
        while len(self._events) > self._max_keys:
            self._events.popitem(last=False)
        return allowed
