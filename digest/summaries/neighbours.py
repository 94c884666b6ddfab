"""The training articles most like an article, and the words their abstracts used.

An abstract says what its article is about in the words editors pick; articles on the same
subject share them. ``bench/summarize/train.py`` keeps, for each article it learned from,
its most distinctive words (weighted) and the words of its abstract, in ``neighbours.bin``
beside the model. For a new article, the training articles that share its most distinctive
words are found through an inverted index, and each word of their abstracts gets the share
of them (weighted by likeness) that used it: a candidate made of such words reads like the
abstracts of like articles.
"""

from __future__ import annotations

import heapq
import math
import struct
import zlib
from array import array
from collections import Counter
from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass

from digest.errors import SummaryError

# Words rarer than in 30% of articles (IDF above this) describe a subject.
MIN_IDF = 1.2
# The distinctive words kept of each training article, and asked of a new one.
DOCUMENT_TERMS = 20
QUERY_TERMS = 10
# The training articles whose abstracts count.
NEIGHBOURS = 20

_MAGIC = b"DNB1"
_HEADER = struct.Struct("<4sII")  # magic, words, articles
_WEIGHT_STEPS = 255


@dataclass(frozen=True, slots=True)
class Document:
    """One training article: its distinctive words with weights (unit length) and its
    abstract's words."""

    terms: Mapping[str, float]
    abstract: frozenset[str]


class Neighbours:
    """An inverted index of the training articles' distinctive words."""

    def __init__(self, words: list[str], documents: list[tuple[dict[int, int], list[int]]]):
        self._words = words
        self._ids = {word: index for index, word in enumerate(words)}
        self._documents = documents
        postings: dict[int, list[tuple[int, float]]] = {}
        for number, (terms, _) in enumerate(documents):
            for term, weight in terms.items():
                postings.setdefault(term, []).append((number, weight / _WEIGHT_STEPS))
        self._postings = postings

    @property
    def size(self) -> int:
        """How many training articles the index holds."""
        return len(self._documents)

    @classmethod
    def build(cls, documents: Iterable[Document]) -> Neighbours:
        """The index of ``documents`` (weights kept to 1/255, as they are stored)."""
        ids: dict[str, int] = {}
        rows = []
        for document in documents:
            terms = {
                ids.setdefault(word, len(ids)): max(1, round(weight * _WEIGHT_STEPS))
                for word, weight in document.terms.items()
            }
            # In word order: a set's order changes from run to run, the file must not.
            abstract = sorted(ids.setdefault(word, len(ids)) for word in sorted(document.abstract))
            rows.append((terms, abstract))
        words = sorted(ids, key=ids.__getitem__)
        return cls(words, rows)

    def to_bytes(self) -> bytes:
        """The index as neighbours.bin stores it (zlib-compressed, little-endian)."""
        if len(self._words) > 0xFFFF:
            raise ValueError("too many words for 16-bit word numbers")
        if any(len(terms) > 0xFF or len(abstract) > 0xFF for terms, abstract in self._documents):
            raise ValueError("an article with more than 255 words to keep")
        parts = [_HEADER.pack(_MAGIC, len(self._words), len(self._documents))]
        text = "\n".join(self._words).encode("utf-8")
        parts.append(struct.pack("<I", len(text)) + text)
        for terms, abstract in self._documents:
            ordered = sorted(terms)
            parts.append(bytes([len(ordered)]))
            parts.append(array("H", ordered).tobytes())
            parts.append(bytes(terms[term] for term in ordered))
            parts.append(bytes([len(abstract)]))
            parts.append(array("H", abstract).tobytes())
        return zlib.compress(b"".join(parts), 9)

    @classmethod
    def from_bytes(cls, data: bytes) -> Neighbours:
        """The index of a neighbours.bin; SummaryError when it is not one."""
        try:
            raw = zlib.decompress(data)
            magic, count, articles = _HEADER.unpack_from(raw)
            if magic != _MAGIC:
                raise ValueError("not an index of neighbours")
            at = _HEADER.size
            (length,) = struct.unpack_from("<I", raw, at)
            at += 4
            words = raw[at : at + length].decode("utf-8").split("\n") if length else []
            at += length
            if len(words) != count:
                raise ValueError("word count")
            documents = []
            for _ in range(articles):
                size = raw[at]
                ids = array("H", raw[at + 1 : at + 1 + 2 * size])
                at += 1 + 2 * size
                weights = raw[at : at + size]
                at += size
                kept = raw[at]
                abstract = array("H", raw[at + 1 : at + 1 + 2 * kept])
                at += 1 + 2 * kept
                if len(ids) != size or len(weights) != size or len(abstract) != kept:
                    raise ValueError("truncated")
                if any(word >= count for word in ids) or any(word >= count for word in abstract):
                    raise ValueError("word number out of range")
                documents.append((dict(zip(ids, weights, strict=True)), list(abstract)))
            if at != len(raw):
                raise ValueError("trailing bytes")
        except (zlib.error, struct.error, IndexError, UnicodeDecodeError, ValueError) as error:
            raise SummaryError(f"neighbours.bin is damaged ({error}): retrain the model") from None
        return cls(words, documents)

    def abstract_words(
        self, counts: Mapping[str, int], idf: Mapping[str, float], exclude: int = -1
    ) -> dict[str, float]:
        """Each word of the abstracts of the articles most like one, with the share of
        them (weighted by likeness) that used it.

        ``counts`` are the article's words and how often each occurs, ``idf`` their IDF.
        ``exclude`` is a training article to leave out (the article itself, in training).
        """
        query = _distinctive(counts, idf, QUERY_TERMS, self._ids)
        scores: dict[int, float] = {}
        postings = self._postings
        for weight, word in query:
            for number, value in postings.get(self._ids[word], ()):
                scores[number] = scores.get(number, 0.0) + weight * value
        scores.pop(exclude, None)
        nearest = heapq.nsmallest(NEIGHBOURS, scores.items(), key=lambda item: (-item[1], item[0]))
        total = sum(score for _, score in nearest)
        if total <= 0:
            return {}
        shares: dict[int, float] = {}
        for number, score in nearest:
            for term in self._documents[number][1]:
                shares[term] = shares.get(term, 0.0) + score
        words = self._words
        return {words[term]: share / total for term, share in shares.items()}


def document(words: list[str], abstract: Iterable[str], idf: Mapping[str, float]) -> Document:
    """A training article as the index keeps it: its DOCUMENT_TERMS most distinctive words
    (weight (1 + log count) x IDF, unit length) and the words of its abstract."""
    weights = _distinctive(Counter(words), idf, DOCUMENT_TERMS)
    norm = math.sqrt(sum(weight * weight for weight, _ in weights)) or 1.0
    return Document(
        {word: weight / norm for weight, word in weights},
        frozenset(word for word in abstract if word in idf),
    )


def _distinctive(
    counts: Mapping[str, int],
    idf: Mapping[str, float],
    limit: int,
    known: Container[str] | None = None,
) -> list[tuple[float, str]]:
    """The ``limit`` words of IDF at least MIN_IDF (and in ``known``, when given) of highest
    weight (1 + log count) x IDF, as (weight, word), heaviest first: what a training article
    keeps of itself and what a new one asks of the index."""
    return sorted(
        (
            ((1 + math.log(count)) * idf[word], word)
            for word, count in counts.items()
            if (known is None or word in known) and idf.get(word, 0.0) >= MIN_IDF
        ),
        reverse=True,
    )[:limit]
