"""Learn the sentence scorer of the learned summarizer from OrangeSum's training split.

    .venv/bin/python bench/summarize/train.py PATH/train.jsonl.gz [--out MODEL.json]

Every candidate summary of an article (a sentence, two consecutive sentences, a long sentence
cut at a clause, a sentence with the start of the next one, a sentence without its asides in
parentheses) is labelled with its ROUGE-L F1 against the reference abstract. A ridge
regression is fitted on features and labels centred per article, so it learns what makes one
candidate better than another of the same article, which is what the summarizer asks of it
(the best candidate wins). Besides the features, the commonest words and first words of the
candidates get a weight each. Word statistics (IDF, and how often an article's word
reappears in its abstract) come from the same articles, cross-fitted in folds so that an
article's own abstract never informs its features; a small logistic model of which words of
an article reach its abstract is fitted on a quarter of them. Then LambdaMART trees (a
reranker) learn to reorder the ridge's first candidates of an article from their features
and ridge scores; the scores they learn from are out of fold (the ridge fitted without the
article's fifth), as they will be on articles never seen. One article in ten of the
training file is held out to report how the choice compares with the first candidate; the
validation split is never read here. ``--rows FILE`` keeps the extracted rows to refit
quickly.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import pickle
import sys
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightgbm
import numpy as np
import rouge

from digest.cleaning import clean_text
from digest.french import split_sentences
from digest.summaries.features import (
    FEATURES,
    REFERENCE_TOKENS,
    TOKEN_FEATURES,
    ArticleView,
    Idf,
    Lexicon,
)
from digest.summaries.learned import MODEL_FORMAT, MODEL_PATH, NEIGHBOURS_FILE, TARGET_WORDS
from digest.summaries.neighbours import Neighbours
from digest.summaries.neighbours import document as neighbour_document
from digest.summaries.reranking import RERANK_FEATURES, Reranker, load_reranker
from digest.summaries.shaping import clean_sentences, normalized

_RIDGE = 1e-3  # on standardised features
_HELD_OUT = 10  # one article in this many
_MIN_DF = 3
_PRIOR_WEIGHT = 5
_FOLDS = 5  # cross-fitting of the salience prior, see word_statistics
_TOKEN_SAMPLE = 4  # the token model learns from one fitted article in this many
_TOKEN_RIDGE = 1.0
_OPENINGS = 60  # first words with a weight of their own
_WORDS = 400  # words with a weight of their own
_BATCH = 2000  # articles a step when summing the normal equations
# How much ROUGE-1, -2 and -L each count in a candidate's label (ROUGE-L did best held out).
_LABEL_WEIGHTS = np.array([0.0, 0.0, 1.0])
# The reranker: LambdaMART trees over the first candidates by linear score.
_RERANK_TOP = 8
_RERANK_TREES = 100
_RELEVANCE_STEPS = 40  # a candidate's relevance is its ROUGE-L F1 in steps of 1/40
_MAX_RELEVANCE = 30
_HASH_SEED = "0"


def read_pairs(path: Path) -> Iterator[tuple[str, str, str]]:
    """(title, article, heading) of every line of an OrangeSum JSON Lines file (maybe gzip)."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as lines:
        for line in lines:
            item = json.loads(line)
            yield item["title"], item["article"], item["heading"]


def extract(
    path: Path, limit: int, lexicon: Lexicon, folds: list[Lexicon], indexed: Mapping[int, int]
) -> tuple[list[Rows], list[Rows]]:
    """Rows of the articles to fit on (each with its fold's lexicon) and of the held-out ones.

    ``indexed`` maps an article's number to its place among the neighbours, which its own
    features must not see.
    """
    fitted: list[Rows] = []
    held: list[Rows] = []
    for number, pair in enumerate(read_pairs(path)):
        if limit and number >= limit:
            break
        part = fold(number)
        own = indexed.get(number, -1)
        rows = article_rows(*pair, folds[part] if part >= 0 else lexicon, own)
        if rows is not None:
            (held if part < 0 else fitted).append(rows)
    return fitted, held


def fold(number: int) -> int:
    """The cross-fitting fold of a fitted article; -1 for a held-out one."""
    if number % _HELD_OUT == _HELD_OUT - 1:
        return -1
    return (number // _HELD_OUT) % _FOLDS


def word_statistics(path: Path, limit: int) -> tuple[Lexicon, list[Lexicon], int]:
    """IDF of words, and how often an article's word reappears in its abstract.

    Only the articles fitted on are counted, never the held-out ones. Besides the lexicon
    of all of them (the one shipped), one per fold leaves that fold's abstracts out: an
    article's features are computed with the lexicon of its fold, so that its own abstract
    never informs them (else the fit trusts the salience prior more than it deserves).
    """
    documents: Counter[str] = Counter()
    kept: Counter[str] = Counter()
    fold_kept: list[Counter[str]] = [Counter() for _ in range(_FOLDS)]
    total = 0
    for number, (title, text, heading) in enumerate(read_pairs(path)):
        if limit and number >= limit:
            break
        if fold(number) < 0:
            continue
        words = set(rouge.tokenize(f"{title} {text}"))
        documents.update(words)
        shared = words & set(rouge.tokenize(heading))
        kept.update(shared)
        fold_kept[fold(number)].update(shared)
        total += 1
    common = sorted(word for word, count in documents.items() if count >= _MIN_DF)
    prior = sum(kept.values()) / sum(documents.values())
    idf = Idf(
        {word: round(math.log(total / documents[word]), 2) for word in common},
        round(math.log(total / _MIN_DF), 2),
    )

    def salience(counts: Mapping[str, float]) -> Idf:
        return Idf(
            {
                word: round(
                    (counts.get(word, 0) + _PRIOR_WEIGHT * prior)
                    / (documents[word] + _PRIOR_WEIGHT),
                    3,
                )
                for word in common
            },
            round(prior, 3),
        )

    # Leaving a fold's abstracts out but not its documents biases the rate down by about
    # 1/_FOLDS; the fold's own share of the kept words is added back at the prior rate.
    folds = [
        Lexicon(idf, salience(_scaled(kept - held, _FOLDS / (_FOLDS - 1)))) for held in fold_kept
    ]
    return Lexicon(idf, salience(kept)), folds, total


def build_neighbours(path: Path, limit: int, idf: Idf) -> tuple[Neighbours, dict[int, int]]:
    """The index of the articles fitted on (never the held-out ones), and each one's place."""
    documents, indexed = [], {}
    for number, (title, text, heading) in enumerate(read_pairs(path)):
        if limit and number >= limit:
            break
        if fold(number) < 0:
            continue
        indexed[number] = len(documents)
        words = rouge.tokenize(f"{title} {text}")
        documents.append(neighbour_document(words, rouge.tokenize(heading), idf.weights))
    return Neighbours.build(documents), indexed


def _scaled(counts: Counter[str], factor: float) -> dict[str, float]:
    return {word: count * factor for word, count in counts.items()}


def fit_tokens(
    path: Path, limit: int, folds: list[Lexicon], indexed: Mapping[int, int]
) -> tuple[tuple[float, ...], float]:
    """Logistic weights of the token model: is a word of an article in its abstract?

    Fitted on one in _TOKEN_SAMPLE of the articles fitted on (never the held-out ones).
    Also returns the mean length of an abstract in tokens.
    """
    rows: list[list[float]] = []
    labels: list[float] = []
    lengths: list[int] = []
    for number, (title, text, heading) in enumerate(read_pairs(path)):
        if limit and number >= limit:
            break
        if fold(number) < 0 or number % _TOKEN_SAMPLE:
            continue
        lexicon = folds[fold(number)]
        sentences = clean_sentences(split_sentences(clean_text(text)), normalized(title))
        reference = rouge.tokenize(heading)
        lengths.append(len(reference))
        kept = set(reference)
        view = ArticleView(sentences, title, lexicon, indexed.get(number, -1))
        for token, row in view.token_features().items():
            rows.append(row)
            labels.append(float(token in kept))
    features, target = np.array(rows), np.array(labels)
    weights = np.zeros(features.shape[1])
    for _ in range(12):  # Newton steps of an L2-regularised logistic regression
        chance = 1 / (1 + np.exp(-features @ weights))
        gradient = features.T @ (chance - target) + _TOKEN_RIDGE * weights
        hessian = (features * (chance * (1 - chance))[:, None]).T @ features
        weights -= np.linalg.solve(hessian + _TOKEN_RIDGE * np.eye(len(weights)), gradient)
    chance = 1 / (1 + np.exp(-features @ weights))
    loss = -np.mean(target * np.log(chance) + (1 - target) * np.log(1 - chance))
    print(f"token model: {len(rows)} words, log loss {loss:.4f}, base rate {target.mean():.3f}")
    return tuple(round(float(w), 6) for w in weights), float(np.mean(lengths))


@dataclass(frozen=True, slots=True)
class Rows:
    """The candidates of one article: features, labels, distinct words and first words."""

    features: np.ndarray
    labels: np.ndarray
    words: list[frozenset[str]]
    openings: list[str]


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """The words and first words that get a weight of their own."""

    openings: dict[str, int]
    words: dict[str, int]

    @property
    def width(self) -> int:
        """Columns of the design matrix: FEATURES, then openings, then words."""
        return len(FEATURES) + len(self.openings) + len(self.words)

    def design(self, rows: Rows) -> np.ndarray:
        """The design matrix of one article's candidates."""
        matrix = np.zeros((len(rows.labels), self.width))
        matrix[:, : len(FEATURES)] = rows.features
        for line, (words, opening) in enumerate(zip(rows.words, rows.openings, strict=True)):
            if opening in self.openings:
                matrix[line, self.openings[opening]] = 1.0
            matrix[line, [self.words[word] for word in words if word in self.words]] = 1.0
        return matrix


def article_rows(
    title: str, text: str, heading: str, lexicon: Lexicon, own: int = -1
) -> Rows | None:
    """Features and labels of every candidate of one article; None when there is no choice.

    ``own`` is the article's place among the neighbours (-1: not there).
    """
    sentences = clean_sentences(split_sentences(clean_text(text)), normalized(title))
    view = ArticleView(sentences, title, lexicon, own)
    candidates = view.candidates(TARGET_WORDS)
    if len(candidates) < 2:
        return None
    reference = rouge.tokenize(heading)
    features = np.array([view.features(c, TARGET_WORDS) for c in candidates])
    labels = np.array([_scores(rouge.tokenize(c.text), reference) for c in candidates])
    words = [view.words(c) for c in candidates]
    return Rows(features, labels, [w for w, _ in words], [o for _, o in words])


def _scores(candidate: list[str], reference: list[str]) -> tuple[float, float, float]:
    return (
        rouge.ngram_f1(candidate, reference, 1),
        rouge.ngram_f1(candidate, reference, 2),
        rouge.rouge_l_f1(candidate, reference),
    )


def vocabulary(groups: list[Rows]) -> Vocabulary:
    """The commonest first words and words of the candidates fitted on."""
    openings: Counter[str] = Counter()
    words: Counter[str] = Counter()
    for rows in groups:
        openings.update(rows.openings)
        for candidate in rows.words:
            words.update(candidate)
    base = len(FEATURES)
    chosen = [word for word, _ in openings.most_common(_OPENINGS)]
    common = [word for word, _ in words.most_common(_WORDS)]
    return Vocabulary(
        {word: base + index for index, word in enumerate(chosen)},
        {word: base + len(chosen) + index for index, word in enumerate(common)},
    )


def normal_equations(groups: list[Rows], vocabulary: Vocabulary) -> tuple[np.ndarray, np.ndarray]:
    """X'X and X'y of features and labels centred within each article, over ``groups``."""
    width = vocabulary.width
    gram, moment = np.zeros((width, width)), np.zeros(width)
    for start in range(0, len(groups), _BATCH):
        batch = groups[start : start + _BATCH]
        centred = [(m := vocabulary.design(rows)) - m.mean(axis=0) for rows in batch]
        targets = [rows.labels @ _LABEL_WEIGHTS for rows in batch]
        design = np.vstack(centred)
        gram += design.T @ design
        moment += design.T @ np.concatenate([t - t.mean() for t in targets])
    return gram, moment


def solve(gram: np.ndarray, moment: np.ndarray) -> np.ndarray:
    """Ridge weights from the normal equations, the penalty on standardised columns."""
    scale = np.sqrt(np.diag(gram) + 1e-9)
    normal = gram / np.outer(scale, scale) + _RIDGE * np.eye(len(scale))
    return np.asarray(np.linalg.solve(normal, moment / scale) / scale)


def fit(groups: list[Rows], vocabulary: Vocabulary) -> tuple[np.ndarray, list[np.ndarray]]:
    """Ridge weights on all ``groups``, and each article's candidate scores out of fold.

    The out-of-fold scores of an article come from the ridge fitted without its fifth of the
    articles: what the reranker learns from must look like what it meets, scores of a
    linear scorer that never saw the article.
    """
    parts = [normal_equations(groups[part::_FOLDS], vocabulary) for part in range(_FOLDS)]
    gram = sum(part[0] for part in parts)
    moment = sum(part[1] for part in parts)
    assert isinstance(gram, np.ndarray) and isinstance(moment, np.ndarray)
    weights = solve(gram, moment)
    without = [solve(gram - g, moment - m) for g, m in parts]
    scores = [vocabulary.design(rows) @ without[n % _FOLDS] for n, rows in enumerate(groups)]
    return weights, scores


def rerank_rows(features: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """RERANK_FEATURES of an article's first _RERANK_TOP candidates by score, and their indexes.

    As digest.summaries.reranking.Reranker.order builds them: ties by article order.
    """
    order = np.argsort(-scores, kind="stable")
    head = order[:_RERANK_TOP]
    extra = np.column_stack(
        [scores[head] - scores.max(), np.arange(len(head)), scores[head] - scores.mean()]
    )
    return np.hstack([features[head], extra]), head


def fit_reranker(groups: list[Rows], scores: list[np.ndarray]) -> lightgbm.Booster:
    """LambdaMART over each article's best candidates by out-of-fold linear score.

    The relevance of a candidate is its ROUGE-L F1 in steps of 1/_RELEVANCE_STEPS; the gain
    of a relevance is the relevance itself, so a candidate counts in proportion to its score.
    """
    rows, relevance, sizes = [], [], []
    for article, score in zip(groups, scores, strict=True):
        features, head = rerank_rows(article.features, score)
        rows.append(features)
        relevance.append(
            np.minimum(_MAX_RELEVANCE, np.floor(article.labels[head, 2] * _RELEVANCE_STEPS))
        )
        sizes.append(len(head))
    data = lightgbm.Dataset(
        np.vstack(rows), np.concatenate(relevance).astype(int), group=sizes, free_raw_data=True
    )
    params = {
        "objective": "lambdarank",
        "label_gain": list(range(_MAX_RELEVANCE + 1)),
        "lambdarank_truncation_level": 5,
        "learning_rate": 0.05,
        "num_leaves": 15,
        "min_data_in_leaf": 100,
        "bagging_fraction": 0.8,
        "bagging_freq": 1,
        "feature_fraction": 0.8,
        "seed": 0,
        "deterministic": True,
        "force_row_wise": True,
        "num_threads": 1,
        "verbose": -1,
    }
    return lightgbm.train(params, data, num_boost_round=_RERANK_TREES)


def flat_trees(booster: lightgbm.Booster) -> list[dict[str, list[Any]]]:
    """The booster's trees as digest.summaries.reranking.Tree reads them (nodes in pre-order)."""
    trees = []
    for info in booster.dump_model()["tree_info"]:
        nodes: list[list[Any]] = []
        leaves: list[float] = []
        _flatten(info["tree_structure"], nodes, leaves)
        trees.append({"nodes": nodes, "leaves": leaves})
    return trees


def _flatten(node: dict[str, Any], nodes: list[list[Any]], leaves: list[float]) -> int:
    """Append ``node`` and what is under it; its index, or -1 - its leaf's index."""
    if "split_feature" not in node:
        leaves.append(float(node["leaf_value"]))
        return -len(leaves)
    if node["decision_type"] != "<=":
        raise ValueError(f"unexpected tree decision {node['decision_type']!r}")
    at = len(nodes)
    nodes.append([int(node["split_feature"]), float(node["threshold"]), 0, 0])
    nodes[at][2] = _flatten(node["left_child"], nodes, leaves)
    nodes[at][3] = _flatten(node["right_child"], nodes, leaves)
    return at


def report(
    groups: list[Rows], vocabulary: Vocabulary, weights: np.ndarray, reranker: Reranker
) -> str:
    """Mean ROUGE-1/2/L x100 of the chosen candidates, linear and reranked, and of the first."""
    linear, reranked = [], []
    for rows in groups:
        scores = vocabulary.design(rows) @ weights
        linear.append(rows.labels[int(np.argmax(scores))])
        order = reranker.order(scores.tolist(), rows.features.tolist())
        reranked.append(rows.labels[order[0]])
    first = 100 * np.mean([rows.labels[0] for rows in groups], axis=0)
    return (
        f"held-out ROUGE-1/2/L: reranked {(100 * np.mean(reranked, axis=0)).round(2)}, "
        f"linear alone {(100 * np.mean(linear, axis=0)).round(2)}, first candidate {first.round(1)}"
    )


def main() -> int:
    if os.environ.get("PYTHONHASHSEED") != _HASH_SEED:
        # Sums over sets of words follow the order of the set, which follows the string hash
        # of the run; their last bits move the trees' thresholds. A fixed seed makes the
        # model file the same, byte for byte, from one run to the next.
        os.execve(
            sys.executable,
            [sys.executable, *sys.argv],
            {**os.environ, "PYTHONHASHSEED": _HASH_SEED},
        )
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("train", type=Path, help="OrangeSum train.jsonl.gz")
    parser.add_argument("--out", type=Path, default=MODEL_PATH, help="model file to write")
    parser.add_argument("--rows", type=Path, help="cache of extracted rows (pickle)")
    parser.add_argument("--limit", type=int, default=0, help="use only the first N articles")
    args = parser.parse_args()
    started = time.perf_counter()
    lexicon, folds, articles = word_statistics(args.train, args.limit)
    built, indexed = build_neighbours(args.train, args.limit, lexicon.idf)
    index = built.to_bytes()
    args.out.with_name(NEIGHBOURS_FILE).write_bytes(index)
    neighbours = Neighbours.from_bytes(index)  # as the summarizer reads it
    print(f"neighbours: {neighbours.size} articles, {len(index) / 1e6:.2f} MB")
    folds = [Lexicon(part.idf, part.salience, neighbours=neighbours) for part in folds]
    tokens, reference = fit_tokens(args.train, args.limit, folds, indexed)
    print(f"mean abstract length: {reference:.1f} tokens (REFERENCE_TOKENS = {REFERENCE_TOKENS})")
    lexicon = Lexicon(lexicon.idf, lexicon.salience, tokens, neighbours)
    folds = [Lexicon(part.idf, part.salience, tokens, neighbours) for part in folds]
    if args.rows and args.rows.exists():
        fitted, held = pickle.loads(args.rows.read_bytes())
    else:
        fitted, held = extract(args.train, args.limit, lexicon, folds, indexed)
        if args.rows:
            args.rows.write_bytes(pickle.dumps((fitted, held)))
    words = vocabulary(fitted)
    weights, scores = fit(fitted, words)
    trees = flat_trees(fit_reranker(fitted, scores))
    reranker = {"features": list(RERANK_FEATURES), "top": _RERANK_TOP, "trees": trees}
    dense = len(FEATURES)
    model = {
        "format": MODEL_FORMAT,
        "trained_on": f"OrangeSum train: {len(fitted)} articles ({articles} for word statistics)",
        "target_words": TARGET_WORDS,
        "features": list(FEATURES),
        "weights": [round(float(w), 6) for w in weights[:dense]],
        "opening_weights": {w: round(float(weights[i]), 5) for w, i in words.openings.items()},
        "word_weights": {w: round(float(weights[i]), 5) for w, i in words.words.items()},
        "idf_unknown": lexicon.idf.unknown,
        "idf": lexicon.idf.weights,
        "salience_unknown": lexicon.salience.unknown,
        "salience": lexicon.salience.weights,
        "token_features": list(TOKEN_FEATURES),
        "token_weights": list(lexicon.tokens),
        "reranker": reranker,
    }
    args.out.write_text(json.dumps(model, ensure_ascii=False) + "\n", encoding="utf-8")
    print(report(held, words, weights, load_reranker(reranker)))
    for name, weight in zip(FEATURES, weights[:dense], strict=True):
        print(f"  {name:20} {weight:+.4f}")
    print(f"wrote {args.out} in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
