"""The learned summarizer's second stage: boosted trees that reorder the best candidates."""

from __future__ import annotations

import dataclasses
import json
from importlib.resources import files
from typing import Any

import pytest

from digest.errors import SummaryError
from digest.french import split_sentences
from digest.summaries.features import FEATURES, ArticleView
from digest.summaries.learned import LearnedSummarizer, load_scorer
from digest.summaries.reranking import RERANK_FEATURES, Reranker, Tree, load_reranker
from tests.test_summaries import ORANGESUM, orangesum

PAIR = FEATURES.index("pair")
GAP = RERANK_FEATURES.index("score_gap")

# Two levels: a pair of sentences scores 1; else a candidate within 0.1 of the best linear
# score scores 0.5, any other 0.
PAIRS_FIRST = Tree(
    nodes=((PAIR, 0.5, 1, -3), (GAP, -0.1, -1, -2)),
    leaves=(0.0, 0.5, 1.0),
)


def _row(pair: float = 0.0, gap: float = 0.0) -> list[float]:
    row = [0.0] * len(RERANK_FEATURES)
    row[PAIR], row[GAP] = pair, gap
    return row


def _features(pairs: list[int]) -> list[list[float]]:
    return [[float(index in pairs and name == "pair") for name in FEATURES] for index in range(6)]


def test_a_tree_sends_a_row_left_when_its_value_is_at_most_the_threshold() -> None:
    walk = Reranker(top=1, trees=(PAIRS_FIRST,)).score
    assert walk(_row(pair=1.0)) == 1.0
    assert walk(_row(pair=0.5, gap=-0.1)) == 0.0  # both at the threshold: left
    assert walk(_row(pair=0.0, gap=-0.05)) == 0.5
    assert Reranker(top=1, trees=(Tree(nodes=(), leaves=(0.25,)),)).score(_row()) == 0.25
    assert Reranker(top=1, trees=(PAIRS_FIRST, PAIRS_FIRST)).score(_row(pair=1.0)) == 2.0


def test_the_trees_reorder_only_the_first_candidates_by_linear_score() -> None:
    reranker = Reranker(top=3, trees=(PAIRS_FIRST,))
    scores = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4]
    # Candidate 2 is a pair within the first three: it moves up. Candidate 4 is a pair too,
    # but outside the first three: it stays where the linear score put it.
    assert reranker.order(scores, _features([2, 4])) == [2, 0, 1, 3, 4, 5]


def test_ties_between_trees_keep_the_linear_order_then_the_article_order() -> None:
    reranker = Reranker(top=4, trees=(PAIRS_FIRST,))
    scores = [0.5, 0.9, 0.9, 0.1]
    # 1 and 2 tie on linear score (article order decides) and on the trees (both 0.5).
    assert reranker.order(scores, _features([])) == [1, 2, 0, 3]
    assert Reranker(top=4, trees=()).order(scores, _features([])) == [1, 2, 0, 3]
    assert reranker.order([], []) == []


def test_the_trees_see_the_linear_score_relative_to_the_best_and_the_mean() -> None:
    seen: list[list[float]] = []

    @dataclasses.dataclass(frozen=True)
    class Recording(Reranker):
        def score(self, row: Any) -> float:
            seen.append(list(row))
            return 0.0

    Recording(top=2, trees=()).order([1.0, 3.0, 2.0], _features([]))
    gap, rank, centred = (RERANK_FEATURES.index(name) for name in RERANK_FEATURES[-3:])
    assert [(row[gap], row[rank], row[centred]) for row in seen] == [
        (0.0, 0.0, 1.0),
        (-1.0, 1.0, 0.0),
    ]


def test_the_shipped_trees_reorder_only_the_first_candidates_of_an_article() -> None:
    scorer = load_scorer()
    assert scorer.reranker is not None
    top = scorer.reranker.top
    assert top >= 2 and len(scorer.reranker.trees) >= 50
    linear = dataclasses.replace(scorer, reranker=None)
    for article_id in sorted(ORANGESUM):
        article = orangesum(article_id)
        view = ArticleView(split_sentences(article.text), article.title, scorer.lexicon)
        ranked, plain = scorer.rank(view, 30), linear.rank(view, 30)
        assert set(ranked[:top]) == set(plain[:top])
        assert ranked[top:] == plain[top:]
        summary = LearnedSummarizer(scorer=scorer).summarize(article)
        assert summary.method == "learned-v3"


def _model() -> dict[str, Any]:
    raw = files("digest.summaries").joinpath("model.json").read_bytes()
    reranker: dict[str, Any] = json.loads(raw)["reranker"]
    return reranker


def test_the_shipped_trees_are_read_as_they_were_written() -> None:
    raw = _model()
    reranker = load_reranker(raw)
    assert reranker.top == raw["top"] and len(reranker.trees) == len(raw["trees"])
    assert all(
        tree.leaves == tuple(item["leaves"])
        for tree, item in zip(reranker.trees, raw["trees"], strict=True)
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda raw: raw.update(features=raw["features"][:-1]), "does not match"),
        (lambda raw: raw["trees"][0]["nodes"][0].__setitem__(0, 999), "points outside"),
        # A child before its parent could make a walk that never ends.
        (lambda raw: raw["trees"][0]["nodes"][1].__setitem__(2, 0), "points outside"),
        (lambda raw: raw["trees"][0]["nodes"][0].__setitem__(3, -99), "points outside"),
    ],
)
def test_a_reranker_that_does_not_fit_is_one_clear_error(change: Any, message: str) -> None:
    raw = _model()
    assert len(raw["trees"][0]["nodes"]) >= 2
    change(raw)
    with pytest.raises(SummaryError, match=message):
        load_reranker(raw)
