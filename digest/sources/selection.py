"""Which of the week's articles make the issue: duplicates, the editorial file, the caps.

Dedupe: two articles are the same when their canonical URLs match, their guids match, or
their titles are near-identical: the same words once accents, case and punctuation are set
aside, or word sets of at least ``MIN_TITLE_WORDS`` words overlapping by ``TITLE_JACCARD``
(Jaccard). The first seen wins (sources in configured order, then source order).

Caps (``gather.max_articles``, ``gather.max_per_section``, 0 meaning none): the pinned
featured story first, then heavier sources (``weight``), then newer articles; the issue
keeps its newest-first order.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from digest.models import Article
from digest.sources.urls import canonical_url

TITLE_JACCARD = 0.8
MIN_TITLE_WORDS = 4
_WORD = re.compile(r"\w+")


def title_words(title: str) -> tuple[str, ...]:
    """The words of a title without accents or case, for comparing two titles."""
    bare = unicodedata.normalize("NFKD", title.lower())
    bare = "".join(char for char in bare if not unicodedata.combining(char))
    return tuple(_WORD.findall(bare))


@dataclass
class Seen:
    """The keys and titles of the articles kept so far."""

    keys: set[str] = field(default_factory=set)
    titles: list[frozenset[str]] = field(default_factory=list)
    exact_titles: set[tuple[str, ...]] = field(default_factory=set)
    by_word: dict[str, list[int]] = field(default_factory=dict)

    def same_as_seen(self, article: Article) -> bool:
        """True when ``article`` is a story already kept (URL, guid or near-identical title)."""
        if article_keys(article) & self.keys:
            return True
        words = title_words(article.title)
        if words in self.exact_titles:
            return True
        bag = frozenset(words)
        if len(bag) < MIN_TITLE_WORDS:
            return False
        candidates = {i for word in bag for i in self.by_word.get(word, ())}
        return any(_jaccard(bag, self.titles[i]) >= TITLE_JACCARD for i in candidates)

    def add(self, article: Article) -> None:
        self.keys |= article_keys(article)
        words = title_words(article.title)
        self.exact_titles.add(words)
        bag = frozenset(words)
        if len(bag) >= MIN_TITLE_WORDS:
            index = len(self.titles)
            self.titles.append(bag)
            for word in bag:
                self.by_word.setdefault(word, []).append(index)


def article_keys(article: Article) -> set[str]:
    """The URL and guid keys two copies of one article share."""
    keys: set[str] = set()
    if article.url:
        keys.add("url " + canonical_url(article.url))
    if article.guid:
        guid = article.guid.strip()
        # A guid is often the permalink itself; read it as a URL so both keys meet.
        is_url = guid.startswith(("http://", "https://"))
        keys.add(("url " + canonical_url(guid)) if is_url else ("guid " + guid))
    return keys


def apply_caps(
    articles: Sequence[Article],
    weights: dict[str, float],
    *,
    max_articles: int,
    max_per_section: int,
    pinned: str = "",
) -> tuple[list[Article], list[Article]]:
    """The articles kept under the caps (newest first) and those left out."""
    ranked = sorted(
        articles,
        key=lambda a: (
            canonical_url(a.url) != pinned if pinned else True,
            -weights.get(a.source, 1.0),
            -a.published.timestamp(),
            a.title,
        ),
    )
    kept: list[Article] = []
    left: list[Article] = []
    per_section: Counter[str] = Counter()
    for article in ranked:
        full = bool(max_articles) and len(kept) >= max_articles
        crowded = bool(max_per_section) and per_section[article.section] >= max_per_section
        if full or crowded:
            left.append(article)
            continue
        per_section[article.section] += 1
        kept.append(article)
    kept.sort(key=lambda a: (-a.published.timestamp(), a.title, a.url))
    return kept, left


def _jaccard(left: frozenset[str], right: frozenset[str]) -> float:
    return len(left & right) / len(left | right)
