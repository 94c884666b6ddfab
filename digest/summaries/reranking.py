"""The second stage of the learned summarizer: boosted trees that reorder the best candidates.

The linear scorer ranks every candidate of an article; the trees look again at its first
few, with their features and where the linear score put them, and pick among those. They
are trained by ``bench/summarize/train.py`` (LambdaMART) and ship inside ``model.json``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from digest.errors import SummaryError
from digest.summaries.features import FEATURES

# What the trees see of a candidate: its features, then its linear score against the
# article's best one, its rank by that score (0 for the best) and the score against the
# article's mean.
RERANK_FEATURES = (*FEATURES, "score_gap", "score_rank", "score_centred")


@dataclass(frozen=True, slots=True)
class Tree:
    """One regression tree, flat.

    A node is (feature, threshold, left, right); a row goes left when its value is at most
    the threshold. A child that is zero or more is a node, always one after its parent (the
    nodes are in pre-order, so a walk ends); a negative one is the leaf ``-child - 1``. A
    tree without nodes is a single leaf.
    """

    nodes: tuple[tuple[int, float, int, int], ...]
    leaves: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class Reranker:
    """The trees, and how many of the linear scorer's best candidates they reorder."""

    top: int
    trees: tuple[Tree, ...]

    def score(self, row: Sequence[float]) -> float:
        """The sum of the leaf values that one candidate's RERANK_FEATURES reach.

        The walk is written out here, not as a method of Tree: it runs for every tree and
        every candidate kept, and a call each time costs more than the walk."""
        total = 0.0
        for tree in self.trees:
            nodes = tree.nodes
            node = 0 if nodes else -1
            while node >= 0:
                feature, threshold, left, right = nodes[node]
                node = left if row[feature] <= threshold else right
            total += tree.leaves[-node - 1]
        return total

    def order(self, scores: Sequence[float], features: Sequence[Sequence[float]]) -> list[int]:
        """Indexes of the candidates, best first.

        ``scores`` are the linear scores and ``features`` the FEATURES of each candidate.
        The first ``top`` by linear score are reordered by the trees (ties keep the linear
        order, itself tied by article order); the others follow in linear order.
        """
        linear = linear_order(scores)
        if not scores:
            return linear
        best = scores[linear[0]]
        mean = sum(scores) / len(scores)
        head = linear[: self.top]
        trees = {
            index: self.score([*features[index], scores[index] - best, rank, scores[index] - mean])
            for rank, index in enumerate(head)
        }
        head.sort(key=lambda index: -trees[index])  # stable: ties keep the linear order
        return head + linear[self.top :]


def linear_order(scores: Sequence[float]) -> list[int]:
    """Indexes of the candidates by linear score, best first; ties keep article order."""
    return sorted(range(len(scores)), key=lambda index: (-scores[index], index))


def load_reranker(raw: Mapping[str, Any]) -> Reranker:
    """The reranker of a model file's ``reranker`` entry; SummaryError when it does not fit."""
    if tuple(raw.get("features", ())) != RERANK_FEATURES:
        raise SummaryError("model.json's reranker does not match the summarizer's features")
    width = len(RERANK_FEATURES)
    trees = []
    for item in raw["trees"]:
        nodes = tuple(
            (int(feature), float(threshold), int(left), int(right))
            for feature, threshold, left, right in item["nodes"]
        )
        leaves = tuple(float(value) for value in item["leaves"])
        if any(
            not 0 <= feature < width
            or not all(-len(leaves) <= child < 0 or index < child < len(nodes) for child in kids)
            for index, (feature, _, *kids) in enumerate(nodes)
        ) or (not nodes and len(leaves) != 1):
            raise SummaryError("model.json's reranker has a tree that points outside itself")
        trees.append(Tree(nodes, leaves))
    return Reranker(int(raw["top"]), tuple(trees))
