"""Learn the sentence scorer of the learned summarizer from OrangeSum's training split.

    .venv/bin/python bench/summarize/train.py PATH/train.jsonl.gz [--out MODEL.json]

Every candidate summary of an article (a sentence, two consecutive sentences, a long sentence
cut at a clause) is labelled with its ROUGE-L F1 against the reference abstract. A ridge
regression is fitted on features and labels centred per article, so it learns what makes one
candidate better than another of the same article, which is what the summarizer asks of it
(the best candidate wins). Word statistics (IDF, and how often an article's word reappears
in its abstract) come from the same articles. One article in ten of the training file is
held out to report how the choice compares with the first candidate; the validation split
is never read here. ``--rows FILE`` keeps the extracted rows to refit quickly.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import pickle
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import rouge

from digest.cleaning import clean_text
from digest.french import split_sentences
from digest.summaries.features import FEATURES, ArticleView, Idf, Lexicon
from digest.summaries.learned import MODEL_PATH, TARGET_WORDS
from digest.summaries.shaping import clean_sentences, normalized

_RIDGE = 1e-3  # on standardised features
_HELD_OUT = 10  # one article in this many
_MIN_DF = 3
_PRIOR_WEIGHT = 5
# How much ROUGE-1, -2 and -L each count in a candidate's label (ROUGE-L did best held out).
_LABEL_WEIGHTS = np.array([0.0, 0.0, 1.0])


Rows = tuple[np.ndarray, np.ndarray]


def read_pairs(path: Path) -> Iterator[tuple[str, str, str]]:
    """(title, article, heading) of every line of an OrangeSum JSON Lines file (maybe gzip)."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as lines:
        for line in lines:
            item = json.loads(line)
            yield item["title"], item["article"], item["heading"]


def extract(path: Path, limit: int, lexicon: Lexicon) -> tuple[list[Rows], list[Rows]]:
    """Rows of the articles to fit on and of the held-out ones."""
    fitted: list[Rows] = []
    held: list[Rows] = []
    for number, pair in enumerate(read_pairs(path)):
        if limit and number >= limit:
            break
        rows = article_rows(*pair, lexicon)
        if rows is not None:
            (held if number % _HELD_OUT == _HELD_OUT - 1 else fitted).append(rows)
    return fitted, held


def word_statistics(path: Path, limit: int) -> tuple[Lexicon, int]:
    """IDF of words, and how often an article's word reappears in its abstract.

    Only the articles fitted on are counted, never the held-out ones.
    """
    documents: Counter[str] = Counter()
    kept: Counter[str] = Counter()
    total = 0
    for number, (title, text, heading) in enumerate(read_pairs(path)):
        if limit and number >= limit:
            break
        if number % _HELD_OUT == _HELD_OUT - 1:
            continue
        words = set(rouge.tokenize(f"{title} {text}"))
        documents.update(words)
        kept.update(words & set(rouge.tokenize(heading)))
        total += 1
    common = sorted(word for word, count in documents.items() if count >= _MIN_DF)
    prior = sum(kept.values()) / sum(documents.values())
    idf = {word: round(math.log(total / documents[word]), 2) for word in common}
    salience = {
        word: round((kept[word] + _PRIOR_WEIGHT * prior) / (documents[word] + _PRIOR_WEIGHT), 3)
        for word in common
    }
    lexicon = Lexicon(Idf(idf, round(math.log(total / _MIN_DF), 2)), Idf(salience, round(prior, 3)))
    return lexicon, total


def article_rows(
    title: str, text: str, heading: str, lexicon: Lexicon
) -> tuple[np.ndarray, np.ndarray] | None:
    """Features and labels of every candidate of one article; None when there is no choice."""
    sentences = clean_sentences(split_sentences(clean_text(text)), normalized(title))
    view = ArticleView(sentences, title, lexicon)
    candidates = view.candidates(TARGET_WORDS)
    if len(candidates) < 2:
        return None
    reference = rouge.tokenize(heading)
    features = np.array([view.features(c, TARGET_WORDS) for c in candidates])
    labels = np.array([_scores(rouge.tokenize(c.text), reference) for c in candidates])
    return features, labels


def _scores(candidate: list[str], reference: list[str]) -> tuple[float, float, float]:
    return (
        rouge.ngram_f1(candidate, reference, 1),
        rouge.ngram_f1(candidate, reference, 2),
        rouge.rouge_l_f1(candidate, reference),
    )


def fit(groups: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Ridge weights on features and labels centred within each article."""
    width = len(FEATURES)
    gram, moment = np.zeros((width, width)), np.zeros(width)
    for features, labels in groups:
        centred = features - features.mean(axis=0)
        gram += centred.T @ centred
        target = labels @ _LABEL_WEIGHTS
        moment += centred.T @ (target - target.mean())
    scale = np.sqrt(np.diag(gram) + 1e-9)
    normal = gram / np.outer(scale, scale) + _RIDGE * np.eye(width)
    return np.asarray(np.linalg.solve(normal, moment / scale) / scale)


def report(groups: list[tuple[np.ndarray, np.ndarray]], weights: np.ndarray) -> str:
    """Mean ROUGE-1/2/L x100 of the chosen candidates and of the first ones."""
    chosen = 100 * np.mean([labels[int(np.argmax(f @ weights))] for f, labels in groups], axis=0)
    first = 100 * np.mean([labels[0] for _, labels in groups], axis=0)
    return f"held-out ROUGE-1/2/L: chosen {chosen.round(1)}, first candidate {first.round(1)}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("train", type=Path, help="OrangeSum train.jsonl.gz")
    parser.add_argument("--out", type=Path, default=MODEL_PATH, help="model file to write")
    parser.add_argument("--rows", type=Path, help="cache of extracted rows (pickle)")
    parser.add_argument("--limit", type=int, default=0, help="use only the first N articles")
    args = parser.parse_args()
    started = time.perf_counter()
    lexicon, articles = word_statistics(args.train, args.limit)
    if args.rows and args.rows.exists():
        fitted, held = pickle.loads(args.rows.read_bytes())
    else:
        fitted, held = extract(args.train, args.limit, lexicon)
        if args.rows:
            args.rows.write_bytes(pickle.dumps((fitted, held)))
    weights = fit(fitted)
    model = {
        "format": 1,
        "trained_on": f"OrangeSum train: {len(fitted)} articles ({articles} for word statistics)",
        "target_words": TARGET_WORDS,
        "features": list(FEATURES),
        "weights": [round(float(w), 6) for w in weights],
        "idf_unknown": lexicon.idf.unknown,
        "idf": lexicon.idf.weights,
        "salience_unknown": lexicon.salience.unknown,
        "salience": lexicon.salience.weights,
    }
    args.out.write_text(json.dumps(model, ensure_ascii=False) + "\n", encoding="utf-8")
    print(report(held, weights))
    for name, weight in zip(FEATURES, weights, strict=True):
        print(f"  {name:20} {weight:+.4f}")
    print(f"wrote {args.out} in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
