"""Full text from article pages: fetch, extract (``digest.extraction``), learn boilerplate.

Used for feed items that carry only a teaser and for the ``page`` kind. Pages are fetched
concurrently through the shared Fetcher (per-host limit, retries, HTTP cache). Extraction is
CPU work: a handful of pages run in a thread, more in a pool of processes, one per core.
With a cache folder, each extraction is kept under the SHA-256 of the page's bytes, so a
rebuild with the pages unchanged extracts nothing again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit

from digest.config import SourceSettings
from digest.errors import ArticleError, SourceError
from digest.extraction import ExtractedPage, extract_article, remove_boilerplate
from digest.models import Article
from digest.sources.cache import write_atomically
from digest.sources.dates import DatedArticle
from digest.sources.fetching import Fetcher
from digest.sources.urls import https_only

# Below this many pages, starting worker processes costs more than it saves.
POOL_THRESHOLD = 24


@dataclass(frozen=True, slots=True)
class PageResult:
    """One page asked for: its extraction, or why there is none."""

    url: str
    page: ExtractedPage | None = None
    error: str = ""


class PageReader:
    """Fetches and extracts article pages; a process pool is started on first large batch."""

    def __init__(
        self,
        fetcher: Fetcher,
        *,
        cache_dir: Path | None = None,
        max_age: float = 0.0,
        pool_threshold: int = POOL_THRESHOLD,
    ) -> None:
        self._fetcher = fetcher
        self._pool_threshold = pool_threshold
        self._cache_dir = cache_dir / "extracted" if cache_dir is not None else None
        self._max_age = max_age
        self._pool: Executor | None = None
        self._pool_lock = asyncio.Lock()

    async def __aenter__(self) -> PageReader:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    async def read_pages(self, urls: Sequence[str]) -> list[PageResult]:
        """Every page of one source, extracted, with the source's repeated lines removed."""
        bodies = await asyncio.gather(*(self._fetch(url) for url in urls))
        pool = await self._executor(sum(1 for body in bodies if isinstance(body, bytes)))
        results = await asyncio.gather(
            *(self._extract(url, body, pool) for url, body in zip(urls, bodies, strict=True))
        )
        pages = [r.page for r in results if r.page is not None]
        cleaned = iter(remove_boilerplate(pages))
        return [dataclasses.replace(r, page=next(cleaned)) if r.page else r for r in results]

    async def _fetch(self, url: str) -> bytes | str:
        try:
            return await self._fetcher.get(url, max_age=self._max_age)
        except SourceError as exc:
            return str(exc)

    async def _executor(self, count: int) -> Executor | None:
        if count < self._pool_threshold:
            return None
        async with self._pool_lock:
            if self._pool is None:
                # spawn: the parent runs threads (asyncio, httpx), which fork does not copy.
                context = multiprocessing.get_context("spawn")
                workers = max(1, min(os.cpu_count() or 1, 8))
                self._pool = ProcessPoolExecutor(workers, mp_context=context)
        return self._pool

    async def _extract(self, url: str, body: bytes | str, pool: Executor | None) -> PageResult:
        if isinstance(body, str):
            return PageResult(url, error=body)
        key = hashlib.sha256(body).hexdigest()
        cached = await asyncio.to_thread(self._load, key) if self._cache_dir else None
        if cached is not None:
            return PageResult(url, cached)
        try:
            if pool is None:
                page = await asyncio.to_thread(extract_article, body, url)
            else:
                loop = asyncio.get_running_loop()
                page = await loop.run_in_executor(pool, extract_article, body, url)
        except ArticleError as exc:
            return PageResult(url, error=f"{url}: {exc}")
        if self._cache_dir is not None:
            await asyncio.to_thread(self._store, key, page)
        return PageResult(url, page)

    def _load(self, key: str) -> ExtractedPage | None:
        if self._cache_dir is None:
            return None
        try:
            data = json.loads((self._cache_dir / f"{key}.json").read_text(encoding="utf-8"))
            data["paragraphs"] = tuple(data["paragraphs"])
            return ExtractedPage(**data)
        except (OSError, ValueError, TypeError, KeyError):
            return None

    def _store(self, key: str, page: ExtractedPage) -> None:
        if self._cache_dir is None:
            return
        try:
            self._cache_dir.mkdir(parents=True, exist_ok=True)
            data = json.dumps(dataclasses.asdict(page)).encode("utf-8")
            write_atomically(self._cache_dir / f"{key}.json", data)
        except OSError:
            return  # an unwritable cache only costs an extraction next time


async def complete_teasers(
    entries: Sequence[DatedArticle], source: SourceSettings, reader: PageReader
) -> tuple[list[DatedArticle], list[str]]:
    """Entries with the text of their page where they carry a teaser; one line per failure."""
    wanted = [
        entry
        for entry in entries
        if (source.full_text == "always" or (source.full_text == "auto" and entry.teaser))
        and entry.article.url.startswith(("http://", "https://"))
    ]
    if not wanted:
        return list(entries), []
    results = await reader.read_pages(list(dict.fromkeys(e.article.url for e in wanted)))
    by_url = {result.url: result for result in results}
    completed: list[DatedArticle] = []
    errors: list[str] = []
    for entry in entries:
        result = by_url.get(entry.article.url)
        if result is None:
            completed.append(entry)
        elif result.page is None or not result.page.paragraphs:
            completed.append(entry)
            reason = result.error or "the page has no text"
            errors.append(f"{entry.article.title}: full text not read, teaser kept ({reason})")
        else:
            completed.append(
                dataclasses.replace(entry, article=_merged(entry.article, result.page))
            )
    return completed, errors


def _merged(article: Article, page: ExtractedPage) -> Article:
    """The feed's article with the page's text; the feed's own fields win where it has them."""
    return dataclasses.replace(
        article,
        url=_canonical_link(article.url, page.canonical_url),
        text=page.text,
        standfirst=article.standfirst or page.standfirst,
        author=article.author or page.author,
        image_url=article.image_url or https_only(page.image_url),
    )


def _canonical_link(link: str, canonical: str) -> str:
    """The page's canonical URL (rel=canonical, og:url) when it is on the link's own host."""
    try:
        same_host = urlsplit(canonical).hostname == urlsplit(link).hostname
    except ValueError:
        return link
    is_http = canonical.startswith(("http://", "https://"))
    return canonical if is_http and same_host else link
