"""Extraction quality on real pages: digest.extraction against trafilatura alone, same run.

    .venv/bin/python bench/extraction/run.py PATH/orangesum/html [--labels]

For each ``ID.html`` listed in ``expected.jsonl``: bag-of-words token F1 (lowercase Unicode
words, ``\\w+``) of standfirst + body against ``heading`` + ``article``; the title against
``title`` and the date against ``date`` (whitespace-normalised, date as YYYY-MM-DD); empty
outputs; outputs holding a UI label ("Lecture Zen", "Résumer l'article") or a "Publié le"
line. trafilatura alone (``extract`` with its defaults, its own title and date) is the
baseline. The source's boilerplate is learned over all the pages, as a gather does per
source. ``--labels`` also runs every page with UI labels and "Publié le" lines put inside
its body as ``<p>``, ``<span>`` and ``<div role="button">``.
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import statistics
import sys
import time
from pathlib import Path

import trafilatura

from digest.extraction import ExtractedPage, extract_article, remove_boilerplate

WORD = re.compile(r"\w+")
LABEL = re.compile(r"lecture zen|résumer l['’]article", re.IGNORECASE)
# A "Publié le …" line: at the start of a paragraph, or after a short byline ("AFP, publié le").
PUBLISHED_LINE = re.compile(r"^(?:[^.!?]{0,80},\s*)?publié le\b", re.IGNORECASE)
INJECTED = (
    "<p>Lecture Zen</p><span>Résumer l'article</span>"
    '<div role="button">Lecture Zen</div><div role="button"><span>Résumer l’article</span></div>'
    "<p>Publié le lundi 20 janvier 2025 à 10h32</p>"
)


def token_f1(found: str, expected: str) -> float:
    got = collections.Counter(WORD.findall(found.lower()))
    want = collections.Counter(WORD.findall(expected.lower()))
    common = sum((got & want).values())
    if not common:
        return 0.0
    precision, recall = common / sum(got.values()), common / sum(want.values())
    return 2 * precision * recall / (precision + recall)


def with_labels(html: str) -> str:
    """The page with labels inside its body: at its start and inside a paragraph."""
    html = html.replace(
        '<div itemprop="articleBody">', '<div itemprop="articleBody">' + INJECTED, 1
    )
    return re.sub(r"(<p>[^<]{40,}?\. )", r"\1<span>Lecture Zen</span> ", html, count=3)


def baseline(html: str) -> ExtractedPage:
    """trafilatura alone: its text, title and date, nothing of ours."""
    doc = trafilatura.bare_extraction(html, with_metadata=True)
    if not isinstance(doc, trafilatura.settings.Document):
        return ExtractedPage("", "", ())
    lines = tuple(str(doc.text or "").splitlines())
    return ExtractedPage(str(doc.title or ""), "", lines, str(doc.date or ""))


def noisy(page: ExtractedPage) -> bool:
    """True when a UI label sits anywhere, or a paragraph is a "Publié le" line."""
    paragraphs = [page.standfirst, *page.paragraphs]
    return any(LABEL.search(p) or PUBLISHED_LINE.match(p) for p in paragraphs)


def same(left: str, right: str) -> bool:
    return left.split() == right.split()


def run(folder: Path, labels: bool) -> int:
    rows = [
        json.loads(line) for line in (folder / "expected.jsonl").read_text("utf-8").splitlines()
    ]
    htmls = [(folder / f"{row['id']}.html").read_text("utf-8") for row in rows]
    variants = [("pages", htmls)]
    if labels:
        variants.append(("pages with labels in the body", [with_labels(h) for h in htmls]))
    failures = 0
    for name, pages in variants:
        failures += report(name, rows, pages)
    return 1 if failures else 0


def report(name: str, rows: list[dict[str, str]], pages: list[str]) -> int:
    started = time.perf_counter()
    ours = remove_boilerplate([extract_article(html) for html in pages])
    ours_seconds = time.perf_counter() - started
    started = time.perf_counter()
    theirs = [baseline(html) for html in pages]
    theirs_seconds = time.perf_counter() - started
    refs = [row["heading"] + " " + row["article"] for row in rows]
    ours_f1 = [
        token_f1(p.standfirst + "\n" + p.text, ref) for p, ref in zip(ours, refs, strict=True)
    ]
    theirs_f1 = [token_f1(p.text, ref) for p, ref in zip(theirs, refs, strict=True)]
    print(f"## {name} ({len(rows)})")
    line(ours, ours_f1, rows, "digest.extraction", ours_seconds)
    line(theirs, theirs_f1, rows, "trafilatura alone", theirs_seconds)
    worst = sorted(zip(ours_f1, (r["id"] for r in rows), strict=True))[:3]
    print("   worst pages (ours): " + ", ".join(f"{i} {f:.3f}" for f, i in worst))
    bad = [p for p in ours if noisy(p) or not p.text.strip()]
    return len(bad) + sum(not same(p.title, r["title"]) for p, r in zip(ours, rows, strict=True))


def line(
    pages: list[ExtractedPage], f1: list[float], rows: list[dict[str, str]], label: str, secs: float
) -> None:
    titles = sum(same(p.title, r["title"]) for p, r in zip(pages, rows, strict=True))
    dates = sum(p.published[:10] == r["date"] for p, r in zip(pages, rows, strict=True))
    empty = sum(not (p.standfirst + p.text).strip() for p in pages)
    with_noise = sum(noisy(p) for p in pages)
    print(
        f"   {label:<18} mean F1 {statistics.mean(f1):.4f}  median {statistics.median(f1):.4f}  "
        f"min {min(f1):.4f}  titles {titles}/{len(rows)}  dates {dates}/{len(rows)}  "
        f"empty {empty}  with label/Publié le {with_noise}  {1000 * secs / len(rows):.1f} ms/page"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="orangesum/html (with expected.jsonl)")
    parser.add_argument("--labels", action="store_true", help="also pages with labels injected")
    args = parser.parse_args()
    sys.exit(run(args.folder, args.labels))


if __name__ == "__main__":
    main()
