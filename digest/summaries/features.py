"""Candidate summaries of an article and the cheap features the learned scorer weighs."""

from __future__ import annotations

import itertools
import math
import operator
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from digest.french import word_count
from digest.summaries.neighbours import Neighbours
from digest.summaries.shaping import content_words, is_fragment, shorten

# Pairs and cut variants are only built from the first sentences: the answer is nearly
# always there, and the candidate count bounds the time per article.
WINDOW = 16
# A word of an article that reappears in its abstract this often or more is "salient".
_SALIENT = 0.3
# A candidate longer than this many times the target is cut at a clause instead.
_LONG_FACTOR = 1.5
# A word in this share of like articles' abstracts or more is typical of them.
_NEARBY_HIGH = 0.3
# A sentence is followed by a cut piece of the next one when this many words fit.
_MIN_TAIL = 6
# An aside in parentheses, not glued to the next word.

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
_ASIDE = re.compile(r"\s*\([^()]{1,80}\)(?=[\s,.;:!?…»]|$)")
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
    "expected_f1",
    "expected_precision",
    "expected_matches",
    "prior_f1",
    "title_lcs_recall",
    "title_lcs_precision",
    "pruned",
    "nearby_mean",
    "nearby_sum",
    "nearby_f1",
    "nearby_high",
)

# What the token model knows of each word of an article (see ArticleView.token_features).
TOKEN_FEATURES = (
    "bias",
    "salience",
    "salience_logit",
    "idf",
    "in_title",
    "log_count",
    "inverse_first",
    "in_first",
    "digit",
    "short",
    "title_idf",
    "count_idf",
)
# Mean length of an OrangeSum abstract in ROUGE tokens, for the expected F1 of a candidate.
REFERENCE_TOKENS = 34.0


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
    # Logistic weights over TOKEN_FEATURES: the chance that a word of an article is in
    # its summary; empty, the salience prior stands in.
    tokens: tuple[float, ...] = ()
    # The training articles and their abstracts' words (the nearby features are 0 without).
    neighbours: Neighbours | None = None


@dataclass(frozen=True, slots=True)
class Candidate:
    """A possible summary: consecutive sentences, maybe cut at a clause or without an aside."""

    text: str
    first: int
    count: int
    cut: bool
    # Words were taken out inside (a parenthesis), not at the end.
    pruned: bool = False


@dataclass(frozen=True, slots=True)
class _Sentence:
    text: str
    words: int
    length: int
    content: frozenset[str]
    tokens: frozenset[str]
    bigrams: frozenset[tuple[str, str]]
    sequence: tuple[str, ...]


class ArticleView:
    """An article's sentences with the statistics that every candidate's features share."""

    def __init__(
        self, sentences: list[str], title: str, lexicon: Lexicon, exclude: int = -1
    ) -> None:
        """``exclude``: a training article of the neighbours to leave out (in training, the
        article itself)."""
        self.sentences = [_describe(sentence) for sentence in sentences]
        self.lexicon = lexicon
        idf = lexicon.idf
        self.title_content = frozenset(content_words(title))
        title_tokens = _TOKEN.findall(title.lower())
        self.title_tokens = frozenset(title_tokens)
        self.title_bigrams = frozenset(itertools.pairwise(title_tokens))
        self._title_length = len(title_tokens)
        self._title_masks: dict[str, int] = {}
        for position, token in enumerate(title_tokens):
            self._title_masks[token] = self._title_masks.get(token, 0) | (1 << position)
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
        # Every word's IDF and salience, looked up once an article (candidates share them).
        self._idf = _Weights(idf, {token: idf.of(token) for token in counts})
        salience = lexicon.salience
        self._salience = _Weights(salience, {token: salience.of(token) for token in counts})
        self._article = {token: count * self._idf[token] for token, count in counts.items()}
        self._article_norm = math.sqrt(sum(value**2 for value in self._article.values()))
        self._counts = counts
        self._nearby: dict[str, float] = {}
        if lexicon.neighbours is not None:
            query = counts + Counter(title_tokens)
            self._nearby = lexicon.neighbours.abstract_words(query, idf.weights, exclude)
        self._chance = self.token_chances()

    def token_features(self) -> dict[str, list[float]]:
        """The values of TOKEN_FEATURES for each word of the article."""
        first: dict[str, int] = {}
        for index, sentence in enumerate(self.sentences):
            for token in sentence.tokens:
                first.setdefault(token, index)
        rows: dict[str, list[float]] = {}
        for token, index in first.items():
            salience = min(0.99, max(0.01, self.lexicon.salience.of(token)))
            idf = self.lexicon.idf.of(token) / 10
            titled = float(token in self.title_tokens)
            count = math.log1p(self._counts[token])
            rows[token] = [
                1.0,
                salience,
                math.log(salience / (1 - salience)),
                idf,
                titled,
                count,
                1.0 / (index + 1),
                float(index == 0),
                float(token.isdigit()),
                float(len(token) <= 2),
                titled * idf,
                count * idf,
            ]
        return rows

    def token_chances(self) -> dict[str, float]:
        """The chance that each word of the article is in its summary (the token model)."""
        weights = self.lexicon.tokens
        if not weights:
            return {token: self.lexicon.salience.of(token) for token in self._counts}
        chances = {}
        for token, row in self.token_features().items():
            logit = sum(map(operator.mul, weights, row))
            chances[token] = 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, logit))))
        return chances

    def candidates(self, target: int) -> list[Candidate]:
        """Single sentences, pairs that fit, cuts near ``target`` words, asides left out.

        A cut is a long sentence cut at a clause, or a sentence with the start of the next.
        """
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
                text = f"{sentence.text} {following.text}"
                if sentence.words + following.words <= limit:
                    found.append(Candidate(text, index, 2, cut=False))
                if sentence.words < target - _MIN_TAIL < sentence.words + following.words:
                    # The sentence and the start of the next one, cut at a clause.
                    found.append(Candidate(shorten(text, target), index, 2, cut=True))
            if "(" in sentence.text and sentence.words <= limit:
                # The sentence without its asides in parentheses.
                bare = _ASIDE.sub("", sentence.text)
                balanced = bare.count("(") == bare.count(")")
                if bare != sentence.text and balanced and word_count(bare) >= 6:
                    found.append(Candidate(bare, index, 1, cut=False, pruned=True))
        return found

    def features(self, candidate: Candidate, target: int) -> list[float]:
        """The values of FEATURES for ``candidate``, in that order."""
        index, text = candidate.first, candidate.text
        parts = self.sentences[index : index + candidate.count]
        if candidate.cut or candidate.pruned:
            parts = [_describe(text)]  # what is kept, not the whole sentence
        content = frozenset().union(*(part.content for part in parts))
        tokens = frozenset().union(*(part.tokens for part in parts))
        bigrams = frozenset().union(*(part.bigrams for part in parts))
        token_recall = (
            len(tokens & self.title_tokens) / len(self.title_tokens) if self.title_tokens else 0.0
        )
        length = word_count(text)
        words = length / target
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
            len(_CAPITALISED.findall(text)) / max(1, length),
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
            *self._expected(parts, tokens),
            *self._title_lcs(parts),
            float(candidate.pruned),
            *self._nearby_words(tokens),
        ]

    def words(self, candidate: Candidate) -> tuple[frozenset[str], str]:
        """The candidate's distinct words and its first word, for the scorer's word weights."""
        if candidate.cut or candidate.pruned:
            sequence = _TOKEN.findall(candidate.text.lower())
            return frozenset(sequence), sequence[0] if sequence else ""
        parts = self.sentences[candidate.first : candidate.first + candidate.count]
        tokens = frozenset().union(*(part.tokens for part in parts))
        return tokens, parts[0].sequence[0] if parts[0].sequence else ""

    def _title_lcs(self, parts: list[_Sentence]) -> tuple[float, float]:
        """Longest common subsequence of words with the title over the title's and our length.

        Bit-parallel (Hyyrö 2004), as bench/summarize/rouge.py computes ROUGE-L.
        """
        length = sum(part.length for part in parts)
        if not self._title_length or not length:
            return 0.0, 0.0
        masks, full = self._title_masks, (1 << self._title_length) - 1
        row = full
        for part in parts:
            for token in part.sequence:
                match = row & masks.get(token, 0)
                row = ((row + match) | (row - match)) & full
        common = self._title_length - row.bit_count()
        return common / self._title_length, common / length

    def _expected(self, parts: list[_Sentence], tokens: frozenset[str]) -> tuple[float, ...]:
        """Expected ROUGE-1 of a candidate under the token model and under the prior."""
        length = sum(part.length for part in parts)
        if not tokens:
            return 0.0, 0.0, 0.0, 0.0
        matches = sum(map(self._chance.__getitem__, tokens))
        prior = sum(map(self._salience.__getitem__, tokens))
        return (
            2 * matches / (length + REFERENCE_TOKENS),
            matches / length,
            matches / 10,
            2 * prior / (length + REFERENCE_TOKENS),
        )

    def _weighted(self, tokens: frozenset[str]) -> tuple[float, ...]:
        """IDF-weighted overlaps with the title and the article, specificity and salience."""
        if not tokens:
            return 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0
        known = self._salience
        salience = sum(map(known.__getitem__, tokens))
        idf = self._idf
        weights = {token: idf[token] for token in tokens}
        norm = math.sqrt(sum(w * w for w in weights.values()))
        shared = [weights[token] for token in tokens & self.title_tokens]
        recall = sum(shared) / self._title_weight if self._title_weight else 0.0
        title = sum(w * w for w in shared) / (norm * self._title_norm) if shared else 0.0
        article = sum(w * self._article.get(t, 0.0) for t, w in weights.items())
        article /= norm * self._article_norm or 1.0
        specificity = sum(weights.values()) / len(weights)
        values = [known[token] for token in tokens if len(token) > 3]
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

    def _nearby_words(self, tokens: frozenset[str]) -> tuple[float, float, float, float]:
        """How much the candidate's words are those of like articles' abstracts."""
        nearby = self._nearby
        shares = [nearby.get(token, 0.0) for token in tokens]
        total, count = sum(shares), max(1, len(shares))
        high = sum(share > _NEARBY_HIGH for share in shares)
        return total / count, total / 10, 2 * total / (count + 30), high / 10

    def _centrality(self, content: frozenset[str], count: int) -> float:
        if not content or count < 2:
            return 0.0
        return sum(math.log1p(max(0, self._spread[word] - 1)) for word in content) / len(content)


class _Weights(dict[str, float]):
    """The weights of an article's words, looked up once; any other word from ``source``."""

    def __init__(self, source: Idf, known: dict[str, float]) -> None:
        super().__init__(known)
        self._source = source

    def __missing__(self, token: str) -> float:
        value = self[token] = self._source.of(token)
        return value


def _describe(sentence: str) -> _Sentence:
    tokens = _TOKEN.findall(sentence.lower())
    return _Sentence(
        text=sentence,
        words=word_count(sentence),
        content=frozenset(content_words(sentence)),
        length=len(tokens),
        sequence=tuple(tokens),
        tokens=frozenset(tokens),
        bigrams=frozenset(itertools.pairwise(tokens)),
    )


def _first_word(text: str) -> str:
    match = _TOKEN.search(text.lower())
    return match.group() if match else ""
