"""The outcome of summarizing one article within a batch."""

from __future__ import annotations

from dataclasses import dataclass

from digest.models import Summary


@dataclass(frozen=True, slots=True)
class Written:
    """A summary (or why there is none) and why a fallback wrote it, if one did."""

    summary: Summary | None
    error: str = ""
    fallback: str = ""
