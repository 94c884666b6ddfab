"""The summary cache: summaries by a hash of what they depend on; mixed into Ledger."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from contextlib import AbstractContextManager

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from digest.ledger.tables import summary_cache
from digest.models import Summary


class SummaryBook:
    """Cached summaries; Ledger provides ``_tx``."""

    _tx: Callable[[], AbstractContextManager[sa.Connection]]

    def cached_summary(self, key: str) -> Summary | None:
        """The summary stored under ``key``, if any."""
        with self._tx() as conn:
            row = conn.execute(
                sa.select(summary_cache.c.text, summary_cache.c.method).where(
                    summary_cache.c.key == key
                )
            ).first()
        return None if row is None else Summary(text=row.text, method=row.method)

    def cache_summary(self, key: str, summary: Summary, now: dt.datetime) -> None:
        """Store ``summary`` under ``key``; a summary already there is kept as it is."""
        values = {"key": key, "text": summary.text, "method": summary.method, "created_at": now}
        try:
            with self._tx() as conn:
                conn.execute(sa.insert(summary_cache).values(values))
        except IntegrityError:
            # Two builds raced on the same article: both wrote the same bytes.
            return
