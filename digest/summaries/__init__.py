"""Summarizers behind one protocol; the offline learned summarizer is the default."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from digest.config import SummarizerSettings
from digest.errors import SummaryError
from digest.models import Article, Summary
from digest.summaries.lead import LeadSummarizer
from digest.summaries.learned import METHOD, LearnedSummarizer, model_digest
from digest.summaries.model import ModelSummarizer, make_model_summarizer
from digest.summaries.written import Written

__all__ = [
    "LeadSummarizer",
    "LearnedSummarizer",
    "ModelSummarizer",
    "Summarizer",
    "Written",
    "make_summarizer",
    "summarize_batch",
    "summary_key",
]


class Summarizer(Protocol):
    """Writes a short French summary of one article."""

    def summarize(self, article: Article) -> Summary:
        """The summary of ``article``; SummaryError when it cannot be written."""
        ...


@runtime_checkable
class BatchSummarizer(Protocol):
    """A summarizer that writes a batch at once (concurrently), reporting its fallbacks."""

    def summarize_all(self, articles: Sequence[Article]) -> list[Written]:
        """One outcome per article, in order."""
        ...


def summarize_batch(summarizer: Summarizer, articles: Sequence[Article]) -> list[Written]:
    """One outcome per article, in order; a batch summarizer gets the whole batch."""
    if isinstance(summarizer, BatchSummarizer):
        return summarizer.summarize_all(articles)
    written = []
    for article in articles:
        try:
            written.append(Written(summarizer.summarize(article)))
        except SummaryError as exc:
            written.append(Written(None, error=str(exc)))
    return written


def make_summarizer(settings: SummarizerSettings) -> Summarizer:
    """The summarizer that ``[summarizer]`` names."""
    if settings.kind == "lead":
        return LeadSummarizer(max_words=settings.max_words)
    if settings.kind == "model":
        return make_model_summarizer(settings)
    return LearnedSummarizer(
        max_words=settings.max_words, max_chars=settings.max_chars, style=settings.style
    )


def summary_key(article: Article, settings: SummarizerSettings) -> str:
    """A hash of what a summary depends on: the article's text, the settings, the model."""
    # The model file and the version of the code around it (the fallback of "model" too).
    model = f"{METHOD} {model_digest()}" if settings.kind in ("learned", "model") else ""
    # The key never enters the hash; the endpoint only matters when it writes the summary.
    omit = {"api_key"} if settings.kind == "model" else {"api_key", "model"}
    shown = settings.model_dump_json(exclude=omit)
    parts = [article.title, article.standfirst, article.text, shown, model]
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode()).hexdigest()
