"""ROUGE-1, ROUGE-2 and ROUGE-L F1 with a French-aware tokenizer (our own implementation).

Tokens are lowercase Unicode words (letters and digits, so accented letters are kept and
"l'équipe" gives "l", "équipe"); no stemming, no stop-word removal. ROUGE-L is the
whole-text LCS form (``rougeL`` of the rouge-score package, not ``rougeLsum``). Scores are
F1 in [0, 1]; the benchmark prints them x100.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

_TOKEN = re.compile(r"[^\W_]+")


def tokenize(text: str) -> list[str]:
    """Lowercase Unicode words of ``text``."""
    return _TOKEN.findall(text.lower())


@dataclass(frozen=True, slots=True)
class Scores:
    """ROUGE-1, ROUGE-2 and ROUGE-L F1 of one summary."""

    rouge1: float
    rouge2: float
    rougel: float


def _f1(overlap: int, candidate: int, reference: int) -> float:
    if overlap == 0:
        return 0.0
    precision, recall = overlap / candidate, overlap / reference
    return 2 * precision * recall / (precision + recall)


def ngram_f1(candidate: Sequence[str], reference: Sequence[str], n: int) -> float:
    """ROUGE-N F1 with clipped n-gram counts."""
    cand = Counter(zip(*(candidate[i:] for i in range(n)), strict=False))
    ref = Counter(zip(*(reference[i:] for i in range(n)), strict=False))
    overlap = sum((cand & ref).values())
    return _f1(overlap, sum(cand.values()), sum(ref.values()))


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence (bit-parallel, Hyyrö 2004)."""
    masks: dict[str, int] = {}
    for index, token in enumerate(a):
        masks[token] = masks.get(token, 0) | (1 << index)
    full = (1 << len(a)) - 1
    row = full
    for token in b:
        match = row & masks.get(token, 0)
        row = ((row + match) | (row - match)) & full
    return len(a) - row.bit_count()


def rouge_l_f1(candidate: Sequence[str], reference: Sequence[str]) -> float:
    """ROUGE-L F1 over the whole texts."""
    return _f1(lcs_length(candidate, reference), len(candidate), len(reference))


def score(candidate: str, reference: str) -> Scores:
    """ROUGE-1/2/L F1 of ``candidate`` against ``reference``."""
    cand, ref = tokenize(candidate), tokenize(reference)
    return Scores(ngram_f1(cand, ref, 1), ngram_f1(cand, ref, 2), rouge_l_f1(cand, ref))
