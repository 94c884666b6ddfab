"""The learned summarizer: the article's best candidate sentence(s) by a small linear scorer.

The scorer's weights come from ``bench/summarize/train.py`` (OrangeSum's training split) and
ship as ``model.json`` beside this module. Offline, deterministic, pure Python.
"""

from __future__ import annotations

import functools
import hashlib
import json
import operator
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Literal

from digest.errors import SummaryError
from digest.french import split_sentences, word_count
from digest.models import Article, Summary
from digest.summaries.features import (
    FEATURES,
    TOKEN_FEATURES,
    ArticleView,
    Candidate,
    Idf,
    Lexicon,
)
from digest.summaries.neighbours import Neighbours
from digest.summaries.reranking import Reranker, linear_order, load_reranker
from digest.summaries.shaping import (
    clean_sentences,
    drop_connector,
    finish,
    is_fragment,
    normalized,
    shorten,
    total_words,
)

METHOD = "learned-v3"
MODEL_PATH = Path(__file__).with_name("model.json")
MODEL_FORMAT = 2  # 2: with the reranker
NEIGHBOURS_FILE = "neighbours.bin"  # beside model.json, see digest.summaries.neighbours
TARGET_WORDS = 30
BULLET = "• "
KEY_POINTS = 3

# A standfirst shorter than this is a kicker ("BEST-OF POLITIQUE."), not a summary.
_STANDFIRST_MIN_WORDS = 6
# French words average under six characters with their space: a first word budget.
_CHARS_PER_WORD = 6

Style = Literal["paragraph", "key_points"]


@dataclass(frozen=True, slots=True)
class Scorer:
    """A linear scorer over FEATURES and words, the trees that reorder its best candidates,
    and a digest of the model for cache keys."""

    weights: tuple[float, ...]
    lexicon: Lexicon
    digest: str
    # What a word of a candidate adds to its score, and what its first word adds.
    words: Mapping[str, float] = field(default_factory=dict)
    openings: Mapping[str, float] = field(default_factory=dict)
    reranker: Reranker | None = None

    def score(self, view: ArticleView, candidate: Candidate, values: list[float]) -> float:
        """The candidate's linear score: its weighted ``values`` plus its words' weights."""
        tokens, first = view.words(candidate)
        words = self.words
        linear: float = sum(map(operator.mul, self.weights, values))
        return (
            linear + sum(words.get(token, 0.0) for token in tokens) + self.openings.get(first, 0.0)
        )

    def rank(self, view: ArticleView, target: int) -> list[Candidate]:
        """The article's candidates, best first; deterministic (ties keep article order)."""
        candidates = view.candidates(target)
        features = [view.features(candidate, target) for candidate in candidates]
        scores = [
            self.score(view, candidate, values)
            for candidate, values in zip(candidates, features, strict=True)
        ]
        if self.reranker is None:
            order = linear_order(scores)
        else:
            order = self.reranker.order(scores, features)
        return [candidates[index] for index in order]


def _model_files() -> tuple[bytes, bytes]:
    """The shipped model.json and neighbours.bin; works from a wheel as from a checkout."""
    package = files("digest.summaries")
    return package.joinpath("model.json").read_bytes(), package.joinpath(
        NEIGHBOURS_FILE
    ).read_bytes()


@functools.cache
def model_digest() -> str:
    """A digest of the shipped model files, for cache keys: no need to read the model."""
    raw, index = _model_files()
    return hashlib.sha256(raw + index).hexdigest()[:16]


@functools.cache
def load_scorer() -> Scorer:
    """The shipped scorer (read once)."""
    raw, index = _model_files()
    model = json.loads(raw)
    if model.get("format") != MODEL_FORMAT:
        raise SummaryError(f"model.json is not of format {MODEL_FORMAT}: retrain it")
    if tuple(model["features"]) != FEATURES or tuple(model["token_features"]) != TOKEN_FEATURES:
        raise SummaryError("model.json does not match the summarizer's features: retrain it")
    weights = tuple(float(weight) for weight in model["weights"])
    lexicon = Lexicon(
        Idf(model["idf"], float(model["idf_unknown"])),
        Idf(model["salience"], float(model["salience_unknown"])),
        tuple(float(weight) for weight in model["token_weights"]),
        Neighbours.from_bytes(index),
    )
    reranker = load_reranker(model["reranker"])
    words, openings = model["word_weights"], model["opening_weights"]
    return Scorer(weights, lexicon, model_digest(), words, openings, reranker)


@dataclass(frozen=True, slots=True)
class LearnedSummarizer:
    """Summarize with the best-scored candidate, as a short paragraph or key points."""

    max_words: int = TARGET_WORDS
    max_chars: int = 0
    style: Style = "paragraph"
    scorer: Scorer = field(default_factory=load_scorer, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_words < 1 or self.max_chars < 0:
            raise ValueError("max_words must be at least 1 and max_chars at least 0")

    @property
    def target(self) -> int:
        """The target length in words (derived from max_chars when that is set)."""
        if self.max_chars:
            return max(4, self.max_chars // _CHARS_PER_WORD)
        return self.max_words

    def summarize(self, article: Article) -> Summary:
        """Write the summary; SummaryError when the article has no text besides its title."""
        title = normalized(article.title)
        standfirst = clean_sentences(split_sentences(article.standfirst), title)
        sentences = clean_sentences(split_sentences(article.text), title)
        if total_words(standfirst) >= _STANDFIRST_MIN_WORDS and self.style == "paragraph":
            text = _fill(standfirst, self.target)
        elif not sentences and not standfirst:
            name = article.url or repr(article.title)
            raise SummaryError(f"cannot summarize {name}: it has no text besides its title")
        elif not sentences or total_words(sentences) <= self.target:
            text = _fill(sentences or standfirst, self.target)
        else:
            text = self._choose(ArticleView(sentences, article.title, self.scorer.lexicon))
        return Summary(text=self._fit_chars(text), method=METHOD)

    def _choose(self, view: ArticleView) -> str:
        # A fragment (a quotation cut by a missed boundary upstream) only as a last resort.
        ranked = self.scorer.rank(view, self.target)
        ranked.sort(key=lambda candidate: is_fragment(candidate.text))
        if self.style == "paragraph":
            return finish(drop_connector(ranked[0].text))
        points: list[Candidate] = []
        for candidate in ranked:
            if candidate.count == 1 and all(p.first != candidate.first for p in points):
                points.append(candidate)
            if len(points) == KEY_POINTS:
                break
        points.sort(key=lambda point: point.first)
        return "\n".join(_point(point.text, self.target) for point in points)

    def _fit_chars(self, text: str) -> str:
        """Cut each line to max_chars characters at a word, when a character budget is set."""
        if not self.max_chars:
            return text
        return "\n".join(_cut_chars(line, self.max_chars) for line in text.split("\n"))


def _fill(sentences: list[str], target: int) -> str:
    """Whole sentences up to ``target`` words; a first one much too long is cut at a clause."""
    first = sentences[0]
    if word_count(first) > target * 1.5:
        return shorten(first, target)
    chosen, total = [first], word_count(first)
    for sentence in sentences[1:]:
        total += word_count(sentence)
        if total > target:
            break
        chosen.append(sentence)
    return finish(" ".join(chosen))


def _cut_chars(line: str, max_chars: int) -> str:
    bullet = BULLET if line.startswith(BULLET) else ""
    text = line.removeprefix(bullet)
    words = word_count(text)
    while len(bullet + text) > max_chars and words > 1:
        words -= 1
        text = shorten(text, words)
    return bullet + text


def _point(text: str, target: int) -> str:
    """One key point: a sentence, cut at a clause when longer than ``target`` words."""
    text = drop_connector(text)
    return BULLET + (shorten(text, target) if word_count(text) > target else finish(text))
