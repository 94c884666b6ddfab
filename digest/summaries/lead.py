"""The lead summarizer: the standfirst, else the article's opening sentences; offline."""

from __future__ import annotations

from dataclasses import dataclass

from digest.errors import SummaryError
from digest.french import split_sentences, word_count
from digest.models import Article, Summary
from digest.summaries.shaping import (
    SENTENCE_END,
    clean_sentences,
    content_words,
    finish,
    is_fragment,
    normalized,
    shorten,
    total_words,
)

METHOD = "lead-v1"

# A standfirst shorter than this is a kicker ("BEST-OF POLITIQUE."), not a summary.
_STANDFIRST_MIN_WORDS = 6
# A first sentence up to this many times max_words is kept whole rather than cut.
_LONG_SENTENCE_FACTOR = 1.5
# The summary may start at any of the first few sentences (news leads sometimes open
# with a hook such as "La vidéo est devenue virale.").
_START_WINDOW = 4
_POSITION_PENALTY = 0.2
_HOOK_WORDS = 8
_HOOK_PENALTY = 0.3
# A fragment (lower-case start, unbalanced quotes) comes from a missed boundary upstream.
_FRAGMENT_PENALTY = 1.0


@dataclass(frozen=True, slots=True)
class LeadSummarizer:
    """Summarize with the standfirst or the best opening sentences, whole where possible."""

    max_words: int = 30

    def __post_init__(self) -> None:
        if self.max_words < 1:
            raise ValueError(f"max_words must be at least 1, not {self.max_words}")

    def summarize(self, article: Article) -> Summary:
        """Write a summary of about ``max_words`` words; SummaryError when there is no text."""
        title = normalized(article.title)
        standfirst = clean_sentences(split_sentences(article.standfirst), title)
        pool = standfirst if total_words(standfirst) >= _STANDFIRST_MIN_WORDS else []
        pool = pool or self._lead(
            clean_sentences(split_sentences(article.text), title), article.title
        )
        pool = pool or standfirst
        if not pool:
            name = article.url or repr(article.title)
            raise SummaryError(f"cannot summarize {name}: it has no text besides its title")
        return Summary(text=finish(self._select(pool)), method=METHOD)

    def _lead(self, sentences: list[str], title: str) -> list[str]:
        """The body's sentences from the best opening one; a short body is kept whole."""
        if total_words(sentences) <= self.max_words:
            return sentences
        # Intertitles carry no final punctuation; a summary is made of real sentences.
        complete = [sentence for sentence in sentences if SENTENCE_END.search(sentence)]
        candidates = complete or sentences
        return candidates[_best_start(candidates, title) :]

    def _select(self, sentences: list[str]) -> str:
        """Whole sentences up to max_words; a too long first one is cut at a clause."""
        first, total = sentences[0], word_count(sentences[0])
        if total > self.max_words * _LONG_SENTENCE_FACTOR:
            return shorten(first, self.max_words)
        chosen = [first]
        for sentence in sentences[1:]:
            total += word_count(sentence)
            if total > self.max_words:
                break
            chosen.append(sentence)
        return " ".join(chosen)


def _best_start(sentences: list[str], title: str) -> int:
    """Index of the opening sentence: early, about the title, not a hook nor a fragment."""
    topic = content_words(title)

    def score(index: int) -> tuple[float, int]:
        sentence = sentences[index]
        overlap = len(content_words(sentence) & topic) / len(topic) if topic else 0.0
        hook = _HOOK_PENALTY if word_count(sentence) < _HOOK_WORDS else 0.0
        fragment = _FRAGMENT_PENALTY if is_fragment(sentence) else 0.0
        return (overlap - hook - fragment - _POSITION_PENALTY * index, -index)

    return max(range(min(_START_WINDOW, len(sentences))), key=score)
