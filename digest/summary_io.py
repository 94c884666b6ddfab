"""The summarizer from the command line: one article file or web page, or a JSON Lines batch."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo

from digest.cleaning import clean_text
from digest.config import SourceSettings, SummarizerSettings
from digest.errors import ArticleError, DigestError
from digest.extraction import extract_article
from digest.models import Article
from digest.sources.fetching import Fetcher
from digest.sources.folder import read_article_file
from digest.summaries import make_summarizer

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def summarize_file(path: Path, settings: SummarizerSettings, tz: ZoneInfo) -> str:
    """The summary of an article file: a saved page or Markdown article, else plain text."""
    if path.suffix.lower() in (".md", ".txt"):
        source = SourceSettings(name=path.name, kind="folder", path=path.parent)
        try:
            article = read_article_file(path, source, tz).article
        except ArticleError:
            article = _plain_text_article(path)
    else:
        article = _plain_text_article(path)
    return make_summarizer(settings).summarize(article).text


def is_web_address(source: str) -> bool:
    """Whether the command line names a web page rather than a file."""
    return source.startswith(("http://", "https://"))


def summarize_url(url: str, settings: SummarizerSettings) -> str:
    """The summary of the article of a web page (fetched, then its main text extracted)."""
    body = asyncio.run(_fetch(url))
    try:
        page = extract_article(body, url)
    except ArticleError as exc:
        raise ArticleError(f"{url}: {exc}") from exc
    article = Article(
        url=url,
        title=page.title,
        text=page.text,
        published=_EPOCH,
        source=url,
        standfirst=page.standfirst,
    )
    return make_summarizer(settings).summarize(article).text


async def _fetch(url: str) -> bytes:
    async with Fetcher() as fetcher:
        return await fetcher.get(url)


def _plain_text_article(path: Path) -> Article:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DigestError(f"{path} is not UTF-8 text") from exc
    except OSError as exc:
        raise DigestError(f"cannot read {path}: {exc.strerror}") from exc
    return Article(url="", title="", text=clean_text(text), published=_EPOCH, source=path.name)


def summarize_jsonl(lines: TextIO, out: TextIO, settings: SummarizerSettings) -> int:
    """Write one ``{"id", "summary"}`` line per input line, in order; returns the failures.

    A line that cannot be summarized still gets its output line, with an empty summary
    and an ``error`` saying why, so that outputs stay aligned with inputs.
    """
    summarizer = make_summarizer(settings)
    failures = 0
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        ident: object = None
        try:
            item = json.loads(line)
            if not isinstance(item, dict):
                raise ValueError("a line must be a JSON object")
            ident = item.get("id")
            article = Article(
                url="",
                title=str(item.get("title") or ""),
                text=clean_text(str(item.get("text") or "")),
                published=_EPOCH,
                source="jsonl",
            )
            record = {"id": ident, "summary": summarizer.summarize(article).text}
        except (ValueError, DigestError) as exc:
            failures += 1
            record = {"id": ident, "summary": "", "error": f"line {number}: {exc}"}
        out.write(json.dumps(record, ensure_ascii=False) + "\n")
    out.flush()
    return failures
