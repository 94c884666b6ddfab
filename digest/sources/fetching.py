"""The one HTTP client of the sources: honest User-Agent, timeouts, a size cap, few redirects.

Also: at most ``per_host`` requests at once to one host, retries with exponential backoff on
5xx answers and timeouts, and conditional GETs against an on-disk cache (``HttpCache``) so
a rebuild does not fetch again what did not change.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from types import TracebackType
from urllib.parse import urlsplit

import httpx

from digest.errors import SourceError
from digest.sources.cache import CachedResponse, HttpCache

USER_AGENT = "digest/0.1 (+newsletter digest)"
MAX_BYTES = 5 * 1024 * 1024
MAX_REDIRECTS = 5
TIMEOUT = httpx.Timeout(15.0, connect=5.0)
# The read timeout bounds each wait for bytes; a server that drips slowly is cut by this.
DEADLINE_SECONDS = 60.0
PER_HOST = 6
RETRIES = 2
BACKOFF_SECONDS = 0.5
_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/json;q=0.9, "
    "application/xml;q=0.9, text/*;q=0.8, */*;q=0.5"
)


class _Retryable(SourceError):
    """A failure worth another try: a 5xx answer or a timeout."""


class Fetcher:
    """GET bytes over HTTP(S) for sources; every failure becomes a one-line SourceError."""

    def __init__(
        self,
        *,
        timeout: httpx.Timeout = TIMEOUT,
        max_bytes: int = MAX_BYTES,
        deadline: float = DEADLINE_SECONDS,
        per_host: int = PER_HOST,
        retries: int = RETRIES,
        backoff: float = BACKOFF_SECONDS,
        cache: HttpCache | None = None,
    ) -> None:
        self._timeout = timeout
        self._max_bytes = max_bytes
        self._deadline = deadline
        self._per_host = per_host
        self._retries = retries
        self._backoff = backoff
        self._cache = cache
        self._hosts: dict[str, asyncio.Semaphore] = {}
        self._client: httpx.AsyncClient | None = None
        # requests, not_modified, cached (served without a request), retried
        self.stats: Counter[str] = Counter()

    async def __aenter__(self) -> Fetcher:
        self._client = httpx.AsyncClient(
            timeout=self._timeout,
            follow_redirects=True,
            max_redirects=MAX_REDIRECTS,
            headers={"User-Agent": USER_AGENT, "Accept": _ACCEPT},
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=64),
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def get(self, url: str, *, max_age: float = 0.0) -> bytes:
        """The body of ``url``; raise SourceError on HTTP >= 400, timeouts, size, redirect loops.

        A cached body younger than ``max_age`` seconds is returned without any request.
        """
        if self._client is None:
            raise RuntimeError("Fetcher used outside 'async with'")
        cached = await asyncio.to_thread(self._cache.load, url) if self._cache else None
        if cached is not None and max_age > 0 and cached.age() < max_age:
            self.stats["cached"] += 1
            return cached.body
        host = urlsplit(url).netloc.lower()
        semaphore = self._hosts.setdefault(host, asyncio.Semaphore(self._per_host))
        async with semaphore:
            return await self._get_with_retries(self._client, url, cached)

    async def _get_with_retries(
        self, client: httpx.AsyncClient, url: str, cached: CachedResponse | None
    ) -> bytes:
        for attempt in range(self._retries + 1):
            try:
                return await self._get_once(client, url, cached)
            except _Retryable as exc:
                if attempt == self._retries:
                    raise SourceError(str(exc)) from exc
                self.stats["retried"] += 1
                await asyncio.sleep(self._backoff * 2**attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _get_once(
        self, client: httpx.AsyncClient, url: str, cached: CachedResponse | None
    ) -> bytes:
        try:
            async with asyncio.timeout(self._deadline):
                return await self._get(client, url, cached)
        except httpx.TooManyRedirects as exc:
            raise SourceError(f"{url}: more than {MAX_REDIRECTS} redirects (loop?)") from exc
        except (httpx.TimeoutException, TimeoutError) as exc:
            raise _Retryable(f"{url}: timed out") from exc
        except httpx.InvalidURL as exc:
            raise SourceError(f"{url}: not a valid URL ({_one_line(exc)})") from exc
        except httpx.HTTPError as exc:
            raise SourceError(f"{url}: {_one_line(exc) or type(exc).__name__}") from exc

    async def _get(
        self, client: httpx.AsyncClient, url: str, cached: CachedResponse | None
    ) -> bytes:
        headers = cached.validators() if cached is not None else {}
        self.stats["requests"] += 1
        async with client.stream("GET", url, headers=headers) as response:
            status = response.status_code
            if status == httpx.codes.NOT_MODIFIED and cached is not None and self._cache:
                self.stats["not_modified"] += 1
                await asyncio.to_thread(self._cache.touch, url, cached)
                return cached.body
            if status >= httpx.codes.BAD_REQUEST:
                reason = response.reason_phrase or "error"
                error = _Retryable if status >= httpx.codes.INTERNAL_SERVER_ERROR else SourceError
                raise error(f"{url}: HTTP {status} {reason}")
            body = await self._read_body(response, url)
            if self._cache is not None:
                await asyncio.to_thread(self._cache.store, url, _entry(body, response.headers))
            return body

    async def _read_body(self, response: httpx.Response, url: str) -> bytes:
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self._max_bytes:
            raise SourceError(f"{url}: body of {declared} bytes exceeds {self._limit()}")
        # Count decoded bytes, so a small compressed body cannot expand past the cap.
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body.extend(chunk)
            if len(body) > self._max_bytes:
                raise SourceError(f"{url}: body exceeds {self._limit()}")
        return bytes(body)

    def _limit(self) -> str:
        return f"the {self._max_bytes // 1024} KB limit"


def _entry(body: bytes, headers: httpx.Headers) -> CachedResponse:
    return CachedResponse(
        body=body,
        etag=headers.get("ETag", ""),
        last_modified=headers.get("Last-Modified", ""),
        fetched_at=time.time(),
    )


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())
