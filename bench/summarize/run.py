"""ROUGE of the summarizers and of the simple baselines on OrangeSum, with articles/s.

    .venv/bin/python bench/summarize/run.py PATH/valid.jsonl [--limit N] [--repeat R]

Each article's ``article`` is summarized with its ``title`` and compared with its
``heading``. Scores are ROUGE-1/2/L F1 x100 from bench/summarize/rouge.py (our own
implementation: lowercase Unicode words, no stemming). Speed is one core, one process: the
summarizer's time per article (text cleaning and sentence splitting included), the median of
``--repeat`` passes over the whole split.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import rouge

from digest.cleaning import clean_text
from digest.french import split_sentences
from digest.models import Article
from digest.summaries.lead import LeadSummarizer
from digest.summaries.learned import LearnedSummarizer

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

Method = Callable[[Article], str]


def load(path: Path, limit: int) -> list[tuple[Article, str]]:
    """(article, reference) pairs, articles built as ``digest summarize --jsonl`` builds them."""
    pairs = []
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            item = json.loads(line)
            text = clean_text(item["article"])
            article = Article(url="", title=item["title"], text=text, published=_EPOCH, source="")
            pairs.append((article, item["heading"]))
            if limit and len(pairs) >= limit:
                break
    return pairs


def first_sentences(count: int) -> Method:
    """The article's first ``count`` sentences."""
    return lambda article: " ".join(split_sentences(article.text)[:count])


def first_words(count: int) -> Method:
    """The article's first ``count`` words."""
    return lambda article: " ".join(article.text.split()[:count])


def evaluate(method: Method, pairs: list[tuple[Article, str]]) -> tuple[float, float, float]:
    """Mean ROUGE-1/2/L F1 x100 of ``method`` over ``pairs``."""
    scores = [rouge.score(method(article), reference) for article, reference in pairs]
    return (
        100 * statistics.fmean(s.rouge1 for s in scores),
        100 * statistics.fmean(s.rouge2 for s in scores),
        100 * statistics.fmean(s.rougel for s in scores),
    )


def speed(method: Method, pairs: list[tuple[Article, str]], repeat: int) -> float:
    """Median articles per second of ``method`` over ``repeat`` passes."""
    rates = []
    for _ in range(repeat):
        started = time.process_time()
        for article, _ in pairs:
            method(article)
        rates.append(len(pairs) / (time.process_time() - started))
    return statistics.median(rates)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("valid", type=Path, help="OrangeSum valid.jsonl")
    parser.add_argument("--limit", type=int, default=0, help="only the first N articles")
    parser.add_argument("--repeat", type=int, default=3, help="timed passes (median is shown)")
    args = parser.parse_args()
    pairs = load(args.valid, args.limit)
    learned = LearnedSummarizer(max_words=30)
    lead = LeadSummarizer(max_words=30)
    methods: list[tuple[str, Method, bool]] = [
        ("first sentence", first_sentences(1), False),
        ("first two sentences", first_sentences(2), False),
        ("first 32 words", first_words(32), False),
        ("title alone", lambda article: article.title, False),
        ("kind = lead (30 words)", lambda article: lead.summarize(article).text, True),
        ("kind = learned (30 words)", lambda article: learned.summarize(article).text, True),
    ]
    words = statistics.fmean(len(learned.summarize(a).text.split()) for a, _ in pairs)
    print(f"{len(pairs)} articles of {args.valid.name}; ROUGE F1 x100, French word tokens")
    print(f"{'method':28} {'R-1':>5} {'R-2':>5} {'R-L':>5} {'articles/s':>11}")
    for name, method, timed in methods:
        r1, r2, rl = evaluate(method, pairs)
        rate = f"{speed(method, pairs, args.repeat):11.0f}" if timed else ""
        print(f"{name:28} {r1:5.1f} {r2:5.1f} {rl:5.1f} {rate}")
    print(f"mean length of the learned summaries: {words:.1f} words")
    return 0


if __name__ == "__main__":
    sys.exit(main())
