"""Candidate summaries of an article and the cheap features the learned scorer weighs."""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from digest.french import word_count
from digest.summaries.shaping import content_words, is_fragment, shorten

# Pairs and cut variants are only built from the first sentences: the answer is nearly
# always there, and the candidate count bounds the time per article.
WINDOW = 16
# A word of an article that reappears in its abstract this often or more is "salient".
_SALIENT = 0.3
# A candidate longer than this many times the target is cut at a clause instead.
_LONG_FACTOR = 1.5

_PRONOUNS = frozenset(str.split("il elle ils elles ce cette ces cela ça celui celle on lui leur"))
_CONNECTORS = frozenset(
    str.split(
        "mais et or donc pourtant cependant ainsi alors enfin puis aussi toutefois néanmoins par en"
    )
)
_WHEN = re.compile(
    r"\b(?:lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche|janvier|février|mars|avril"
    r"|mai|juin|juillet|août|septembre|octobre|novembre|décembre|hier|aujourd'hui)\b",
    re.IGNORECASE,
)
_REPORTING = re.compile(
    r"\b(?:selon|a annoncé|ont annoncé|a indiqué|a déclaré|a expliqué|a affirmé|a confirmé"
    r"|rapporte|indique|annonce)\b",
    re.IGNORECASE,
)
_DIGIT = re.compile(r"\d")
_QUOTE = re.compile('[«»"“”]')
_CAPITALISED = re.compile(r"(?<=[\s(])[A-ZÀ-ÖØ-ÞŒ][^\W\d_]+")
_TOKEN = re.compile(r"[^\W_]+")

FEATURES = (
    "first",
    "second",
    "inverse_position",
    "relative_position",
    "length",
    "length_squared",
    "short",
    "pair",
    "cut",
    "title_recall",
    "title_precision",
    "title_token_recall",
    "centrality",
    "lead_overlap",
    "digits",
    "quotes",
    "opens_with_quote",
    "colon",
    "question",
    "fragment",
    "pronoun_start",
    "connector_start",
    "when",
    "reporting",
    "capitalised",
    "ends_cleanly",
    "third",
    "fourth",
    "title_bigram_recall",
    "title_token_precision",
    "first_by_title",
    "pair_length",
    "parenthesis",
    "title_idf_recall",
    "title_cosine",
    "article_cosine",
    "specificity",
    "salience_mean",
    "salience_sum",
    "salience_content",
    "salience_high",
)


@dataclass(frozen=True, slots=True)
class Idf:
    """Inverse document frequencies of words in French news, and the value of unseen words."""

    weights: Mapping[str, float]
    unknown: float

    def of(self, token: str) -> float:
        """The weight of ``token``."""
        return self.weights.get(token, self.unknown)


@dataclass(frozen=True, slots=True)
class Lexicon:
    """Per-word statistics of French news learned from training pairs."""

    idf: Idf
    # How often a word of the article reappears in its summary (a salience prior).
    salience: Idf


@dataclass(frozen=True, slots=True)
class Candidate:
    """A possible summary: consecutive sentences of the article, maybe cut at a clause."""

    text: str
    first: int
    count: int
    cut: bool


@dataclass(frozen=True, slots=True)
class _Sentence:
    text: str
    words: int
    content: frozenset[str]
    tokens: frozenset[str]
    bigrams: frozenset[tuple[str, str]]


class ArticleView:
    """An article's sentences with the statistics that every candidate's features share."""

    def __init__(self, sentences: list[str], title: str, lexicon: Lexicon) -> None:
        self.sentences = [_describe(sentence) for sentence in sentences]
        self.lexicon = lexicon
        idf = lexicon.idf
        self.title_content = frozenset(content_words(title))
        title_tokens = _TOKEN.findall(title.lower())
        self.title_tokens = frozenset(title_tokens)
        self.title_bigrams = frozenset(itertools.pairwise(title_tokens))
        spread: Counter[str] = Counter()
        for sentence in self.sentences:
            spread.update(sentence.content)
        self._spread = spread
        self._lead = self.sentences[0].content if self.sentences else frozenset()
        self._title_weight = sum(idf.of(token) for token in self.title_tokens)
        self._title_norm = math.sqrt(sum(idf.of(token) ** 2 for token in self.title_tokens))
        counts: Counter[str] = Counter()
        for sentence in self.sentences:
            counts.update(sentence.tokens)
        self._article = {token: count * idf.of(token) for token, count in counts.items()}
        self._article_norm = math.sqrt(sum(value**2 for value in self._article.values()))

    def candidates(self, target: int) -> list[Candidate]:
        """Single sentences, pairs that fit, and long sentences cut near ``target`` words."""
        found: list[Candidate] = []
        limit = int(target * _LONG_FACTOR)
        for index, sentence in enumerate(self.sentences):
            if sentence.words <= limit:
                found.append(Candidate(sentence.text, index, 1, cut=False))
            if index >= WINDOW:
                continue
            if sentence.words > target:
                found.append(Candidate(shorten(sentence.text, target), index, 1, cut=True))
            if index + 1 < len(self.sentences):
                following = self.sentences[index + 1]
                if sentence.words + following.words <= limit:
                    text = f"{sentence.text} {following.text}"
                    found.append(Candidate(text, index, 2, cut=False))
        return found

    def features(self, candidate: Candidate, target: int) -> list[float]:
        """The values of FEATURES for ``candidate``, in that order."""
        index, text = candidate.first, candidate.text
        parts = self.sentences[index : index + candidate.count]
        content = frozenset().union(*(part.content for part in parts))
        tokens = frozenset().union(*(part.tokens for part in parts))
        bigrams = frozenset().union(*(part.bigrams for part in parts))
        token_recall = (
            len(tokens & self.title_tokens) / len(self.title_tokens) if self.title_tokens else 0.0
        )
        words = word_count(text) / target
        shared = len(content & self.title_content)
        count = len(self.sentences)
        return [
            float(index == 0),
            float(index == 1),
            1.0 / (index + 1),
            index / count,
            words,
            words * words,
            float(words < 0.4),
            float(candidate.count == 2),
            float(candidate.cut),
            shared / len(self.title_content) if self.title_content else 0.0,
            shared / len(content) if content else 0.0,
            token_recall,
            self._centrality(content, count),
            len(content & self._lead) / len(content) if content and index else 0.0,
            float(bool(_DIGIT.search(text))),
            float(bool(_QUOTE.search(text))),
            float(text[0] in '«"“'),
            float(":" in text),
            float("?" in text),
            float(is_fragment(text)),
            float(_first_word(text) in _PRONOUNS),
            float(_first_word(text) in _CONNECTORS),
            float(bool(_WHEN.search(text))),
            float(bool(_REPORTING.search(text))),
            len(_CAPITALISED.findall(text)) / max(1, word_count(text)),
            float(not candidate.cut),
            float(index == 2),
            float(index == 3),
            len(bigrams & self.title_bigrams) / len(self.title_bigrams)
            if self.title_bigrams
            else 0.0,
            len(tokens & self.title_tokens) / len(tokens) if tokens else 0.0,
            token_recall * (index == 0),
            words * (candidate.count == 2),
            float("(" in text),
            *self._weighted(tokens),
        ]

    def _weighted(self, tokens: frozenset[str]) -> tuple[float, ...]:
        """IDF-weighted overlaps with the title and the article, specificity and salience."""
        if not tokens:
            return 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0
        salience = sum(self.lexicon.salience.of(token) for token in tokens)
        weights = {token: self.lexicon.idf.of(token) for token in tokens}
        norm = math.sqrt(sum(w * w for w in weights.values()))
        shared = [weights[token] for token in tokens & self.title_tokens]
        recall = sum(shared) / self._title_weight if self._title_weight else 0.0
        title = sum(w * w for w in shared) / (norm * self._title_norm) if shared else 0.0
        article = sum(w * self._article.get(t, 0.0) for t, w in weights.items())
        article /= norm * self._article_norm or 1.0
        specificity = sum(weights.values()) / len(weights)
        values = [self.lexicon.salience.of(token) for token in tokens if len(token) > 3]
        content = sum(values) / len(values) if values else 0.0
        high = sum(value > _SALIENT for value in values) / 10
        return (
            recall,
            title,
            article,
            specificity,
            salience / len(tokens),
            salience / 30,
            content,
            high,
        )

    def _centrality(self, content: frozenset[str], count: int) -> float:
        if not content or count < 2:
            return 0.0
        return sum(math.log1p(self._spread[word] - 1) for word in content) / len(content)


def _describe(sentence: str) -> _Sentence:
    tokens = _TOKEN.findall(sentence.lower())
    return _Sentence(
        text=sentence,
        words=word_count(sentence),
        content=frozenset(content_words(sentence)),
        tokens=frozenset(tokens),
        bigrams=frozenset(itertools.pairwise(tokens)),
    )


def _first_word(text: str) -> str:
    match = _TOKEN.search(text.lower())
    return match.group() if match else ""
