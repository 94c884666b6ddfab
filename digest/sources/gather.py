"""The week's articles from every source: read, window, dedupe, newest first.

Every source is read concurrently. A source that cannot be read (missing folder, HTTP error,
malformed XML, an HTML page instead of a feed, a timeout) gets a one-line reason in its
report's ``errors`` and the others go on; an article that cannot be read goes to ``skipped``.

Window: an article is kept when its date is in ``[week.start(tz), week.end(tz))`` and not
after ``now``; a future-dated article is skipped with a reason, wherever it falls. Date
precisions follow ``digest.sources.dates`` (a date only is noon local; a month only counts
in a week that overlaps the month, as ``max(month start, week start)``).

Dedupe: the first article seen wins, in the order sources are configured, then in source
order; two articles are the same when their canonical URLs match (``urls.canonical_url``)
or their guids do. Kept articles link to their URL without tracking parameters.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from digest.config import SourceSettings
from digest.errors import SourceError
from digest.models import Article, GatherResult, IsoWeek, SourceReport
from digest.sources.dates import DatedArticle, parse_published, place_in_week
from digest.sources.feed import read_feed_entries
from digest.sources.fetching import Fetcher
from digest.sources.folder import read_folder_entries
from digest.sources.urls import canonical_url, strip_tracking

__all__ = ["gather_articles", "parse_published"]


@dataclass(frozen=True, slots=True)
class _Read:
    """What one source gave before the window: its articles, skipped items, a fatal error."""

    entries: tuple[DatedArticle, ...] = ()
    skipped: tuple[str, ...] = ()
    error: str = ""


@dataclass(frozen=True, slots=True)
class _Window:
    week: IsoWeek
    tz: ZoneInfo
    now: dt.datetime


async def gather_articles(
    sources: Sequence[SourceSettings], week: IsoWeek, tz: ZoneInfo, now: dt.datetime
) -> GatherResult:
    """Read every source and return the week's articles, newest first, with one report each."""
    async with Fetcher() as fetcher:
        reads = await asyncio.gather(*(_read_source(s, fetcher, tz) for s in sources))
    window = _Window(week, tz, now)
    seen: set[str] = set()
    articles: list[Article] = []
    reports: list[SourceReport] = []
    for source, read in zip(sources, reads, strict=True):
        kept, skipped = _keep(read.entries, window, seen)
        articles.extend(kept)
        reports.append(
            SourceReport(
                source=source.name,
                items=len(read.entries) + len(read.skipped),
                kept=len(kept),
                skipped=read.skipped + skipped,
                errors=(read.error,) if read.error else (),
            )
        )
    articles.sort(key=lambda a: (-a.published.timestamp(), a.title, a.url))
    return GatherResult(articles=tuple(articles), reports=tuple(reports))


async def _read_source(source: SourceSettings, fetcher: Fetcher, tz: ZoneInfo) -> _Read:
    try:
        if source.kind == "feed":
            entries, skipped = await read_feed_entries(source, fetcher, tz)
        else:
            entries, skipped = await asyncio.to_thread(read_folder_entries, source, tz)
    except SourceError as exc:
        return _Read(error=" ".join(str(exc).split()))
    return _Read(tuple(entries), tuple(skipped))


def _keep(
    entries: Sequence[DatedArticle], window: _Window, seen: set[str]
) -> tuple[list[Article], tuple[str, ...]]:
    """The entries inside the window and not seen before; ``seen`` grows with their keys."""
    kept: list[Article] = []
    skipped: list[str] = []
    for entry in entries:
        article = entry.article
        if article.published > window.now:
            skipped.append(f"{article.title}: dated {article.published.isoformat()}, in the future")
            continue
        moment = place_in_week(article.published, entry.precision, window.week, window.tz)
        if moment is None or moment > window.now:
            continue
        keys = _keys(article)
        if keys & seen:
            continue
        seen.update(keys)
        kept.append(dataclasses.replace(article, published=moment, url=strip_tracking(article.url)))
    return kept, tuple(skipped)


def _keys(article: Article) -> set[str]:
    keys: set[str] = set()
    if article.url:
        keys.add("url " + canonical_url(article.url))
    if article.guid:
        guid = article.guid.strip()
        # A guid is often the permalink itself; read it as a URL so both keys meet.
        is_url = guid.startswith(("http://", "https://"))
        keys.add(("url " + canonical_url(guid)) if is_url else ("guid " + guid))
    return keys
