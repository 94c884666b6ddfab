"""Summarizers behind one protocol; the offline learned summarizer is the default."""

from __future__ import annotations

import hashlib
import json
from typing import Protocol

from digest.config import SummarizerSettings
from digest.models import Article, Summary
from digest.summaries.lead import LeadSummarizer
from digest.summaries.learned import LearnedSummarizer, load_scorer

__all__ = [
    "LeadSummarizer",
    "LearnedSummarizer",
    "Summarizer",
    "make_summarizer",
    "summary_key",
]


class Summarizer(Protocol):
    """Writes a short French summary of one article."""

    def summarize(self, article: Article) -> Summary:
        """The summary of ``article``; SummaryError when it cannot be written."""
        ...


def make_summarizer(settings: SummarizerSettings) -> Summarizer:
    """The summarizer that ``[summarizer]`` names."""
    if settings.kind == "lead":
        return LeadSummarizer(max_words=settings.max_words)
    return LearnedSummarizer(
        max_words=settings.max_words, max_chars=settings.max_chars, style=settings.style
    )


def summary_key(article: Article, settings: SummarizerSettings) -> str:
    """A hash of what a summary depends on: the article's text, the settings, the model."""
    model = load_scorer().digest if settings.kind == "learned" else ""
    parts = [article.title, article.standfirst, article.text, settings.model_dump_json(), model]
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode()).hexdigest()
