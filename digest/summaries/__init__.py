"""Summarizers behind one protocol; the offline lead summarizer is the default."""

from __future__ import annotations

from typing import Protocol

from digest.config import SummarizerSettings
from digest.errors import ConfigError
from digest.models import Article, Summary
from digest.summaries.lead import LeadSummarizer

__all__ = ["LeadSummarizer", "Summarizer", "make_summarizer"]


class Summarizer(Protocol):
    """Writes a short French summary of one article."""

    def summarize(self, article: Article) -> Summary:
        """The summary of ``article``; SummaryError when it cannot be written."""
        ...


def make_summarizer(settings: SummarizerSettings) -> Summarizer:
    """The summarizer that ``[summarizer]`` names."""
    if settings.kind == "lead":
        return LeadSummarizer(max_words=settings.max_words)
    raise ConfigError(f"unknown summarizer kind {settings.kind!r} in [summarizer] (use 'lead')")
