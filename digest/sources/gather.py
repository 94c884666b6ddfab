"""The week's articles from every source: read, window, dedupe, select, newest first.

Every source is read concurrently. A source that cannot be read (missing folder, HTTP error,
malformed XML, an HTML page instead of a feed, a timeout) gets a one-line reason in its
report's ``errors`` and the others go on; an article that cannot be read goes to ``skipped``.

Window: an article is kept when its date is in ``[week.start(tz), week.end(tz))`` and not
after ``now``; a future-dated article is skipped with a reason, wherever it falls. Date
precisions follow ``digest.sources.dates`` (a date only is noon local; a month only counts
in a week that overlaps the month, as ``max(month start, week start)``).
Pages named by hand (the ``page`` kind, the editorial file's ``add``) are kept whatever
their date, unless it is in the future: an editor picked them for this issue.

Dedupe, caps and weights follow ``digest.sources.selection``; the week's editorial file
(``digest.sources.editorial``) pins the featured story, excludes URLs and adds pages.
Kept articles link to their URL without tracking parameters.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import time
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import httpx

from digest.config import GatherSettings, SourceSettings
from digest.errors import SourceError
from digest.models import Article, GatherResult, IsoWeek, SourceReport
from digest.sources.cache import HttpCache
from digest.sources.dates import DatedArticle, parse_published, place_in_week
from digest.sources.editorial import Editorial, load_editorial
from digest.sources.feed import read_feed_source
from digest.sources.fetching import Fetcher
from digest.sources.folder import read_folder_entries
from digest.sources.fulltext import PageReader, complete_teasers
from digest.sources.page import read_page_entries
from digest.sources.selection import Seen, apply_caps
from digest.sources.urls import canonical_url, is_web_link, strip_tracking
from digest.sources.wordpress import read_wordpress_entries

__all__ = ["gather_articles", "parse_published"]
EDITORIAL_SOURCE = "éditorial"


@dataclass(frozen=True, slots=True)
class _Read:
    """What one source gave before the window: its articles, skipped items, errors."""

    entries: tuple[DatedArticle, ...] = ()
    skipped: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class _Window:
    week: IsoWeek
    tz: ZoneInfo
    now: dt.datetime
    editorial: Editorial


async def gather_articles(
    sources: Sequence[SourceSettings],
    week: IsoWeek,
    tz: ZoneInfo,
    now: dt.datetime,
    settings: GatherSettings | None = None,
) -> GatherResult:
    """Read every source and return the week's articles, newest first, with one report each."""
    settings = settings or GatherSettings()
    editorial = load_editorial(settings.editorial_dir, week)
    window = _Window(week, tz, now, editorial)
    extra = _editorial_source(editorial)
    every = [*sources, *extra]
    async with _fetcher(settings) as fetcher, _reader(fetcher, settings) as reader:
        reads = await asyncio.gather(*(_read_source(s, fetcher, reader, window) for s in every))
    seen = Seen()
    articles: list[Article] = []
    reports: list[SourceReport] = []
    for source, read in zip(every, reads, strict=True):
        kept, skipped = _keep(read.entries, window, seen, in_week=source.kind != "page")
        articles.extend(kept)
        reports.append(_report(source, read, kept, skipped))
    return _select(articles, reports, every, settings, editorial)


def _fetcher(settings: GatherSettings) -> Fetcher:
    cache = HttpCache(settings.cache_dir / "http") if settings.cache_dir is not None else None
    return Fetcher(
        timeout=httpx.Timeout(settings.timeout_seconds, connect=min(5.0, settings.timeout_seconds)),
        max_bytes=settings.max_body_kib * 1024,
        per_host=settings.per_host,
        retries=settings.retries,
        cache=cache,
    )


def _reader(fetcher: Fetcher, settings: GatherSettings) -> PageReader:
    max_age = settings.page_max_age_hours * 3600
    return PageReader(fetcher, cache_dir=settings.cache_dir, max_age=max_age)


def _editorial_source(editorial: Editorial) -> list[SourceSettings]:
    if not editorial.add:
        return []
    return [SourceSettings(name=EDITORIAL_SOURCE, kind="page", urls=editorial.add)]


async def _read_source(
    source: SourceSettings, fetcher: Fetcher, reader: PageReader, window: _Window
) -> _Read:
    started = time.perf_counter()
    errors: list[str] = []
    try:
        if source.kind == "feed":
            entries, skipped, warnings = await read_feed_source(source, fetcher, window.tz)
            entries, errors = await complete_teasers(entries, source, reader)
            errors = warnings + errors
        elif source.kind == "wordpress":
            span = (window.week.start(window.tz), window.week.end(window.tz))
            entries, skipped = await read_wordpress_entries(source, fetcher, window.tz, span)
            entries, errors = await complete_teasers(entries, source, reader)
        elif source.kind == "page":
            entries, skipped = await read_page_entries(source, reader, window.tz)
        else:
            entries, skipped = await asyncio.to_thread(read_folder_entries, source, window.tz)
    except SourceError as exc:
        return _Read(errors=(" ".join(str(exc).split()),), seconds=_since(started))
    return _Read(tuple(entries), tuple(skipped), tuple(errors), _since(started))


def _since(started: float) -> float:
    return time.perf_counter() - started


def _keep(
    entries: Sequence[DatedArticle], window: _Window, seen: Seen, *, in_week: bool
) -> tuple[list[Article], tuple[str, ...]]:
    """The entries inside the window and not seen before; ``seen`` grows with them."""
    kept: list[Article] = []
    skipped: list[str] = []
    for entry in entries:
        article = entry.article
        if not is_web_link(article.url):
            skipped.append(f"{article.title}: link {article.url[:80]!r} is not an http(s) URL")
            continue
        if article.published > window.now:
            skipped.append(f"{article.title}: dated {article.published.isoformat()}, in the future")
            continue
        moment = article.published
        if in_week:
            placed = place_in_week(article.published, entry.precision, window.week, window.tz)
            if placed is None or placed > window.now:
                continue
            moment = placed
        if window.editorial.excludes(article.url):
            skipped.append(f"{article.title}: excluded by the editorial file")
            continue
        if seen.same_as_seen(article):
            continue
        seen.add(article)
        kept.append(dataclasses.replace(article, published=moment, url=strip_tracking(article.url)))
    return kept, tuple(skipped)


def _report(
    source: SourceSettings, read: _Read, kept: list[Article], skipped: tuple[str, ...]
) -> SourceReport:
    return SourceReport(
        source=source.name,
        items=len(read.entries) + len(read.skipped),
        kept=len(kept),
        skipped=read.skipped + skipped,
        errors=read.errors,
        seconds=read.seconds,
    )


def _select(
    articles: list[Article],
    reports: list[SourceReport],
    sources: Sequence[SourceSettings],
    settings: GatherSettings,
    editorial: Editorial,
) -> GatherResult:
    pinned = canonical_url(editorial.featured) if editorial.featured else ""
    weights = {source.name: source.weight for source in sources}
    kept, left = apply_caps(
        articles,
        weights,
        max_articles=settings.max_articles,
        max_per_section=settings.max_per_section,
        pinned=pinned,
    )
    notes: list[str] = []
    if left:
        notes.append(f"{len(left)} articles left out by the caps (max_articles, max_per_section)")
    featured = next((a.url for a in kept if pinned and canonical_url(a.url) == pinned), "")
    if pinned and not featured:
        notes.append(f"featured story {editorial.featured} is not among the week's articles")
    if settings.min_articles and len(kept) < settings.min_articles:
        notes.append(
            f"thin week: {len(kept)} articles, fewer than min_articles = {settings.min_articles}"
        )
    return GatherResult(tuple(kept), tuple(reports), featured, tuple(notes))
