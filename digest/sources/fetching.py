"""The one HTTP client of the sources: honest User-Agent, timeouts, a size cap, few redirects."""

from __future__ import annotations

import asyncio
from types import TracebackType

import httpx

from digest.errors import SourceError

USER_AGENT = "digest/0.1 (+newsletter digest)"
MAX_BYTES = 5 * 1024 * 1024
MAX_REDIRECTS = 5
TIMEOUT = httpx.Timeout(15.0, connect=5.0)
# The read timeout bounds each wait for bytes; a server that drips slowly is cut by this.
DEADLINE_SECONDS = 60.0
_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/*;q=0.8, */*;q=0.5"
)


class Fetcher:
    """GET bytes over HTTP(S) for sources; every failure becomes a one-line SourceError."""

    def __init__(
        self,
        *,
        timeout: httpx.Timeout = TIMEOUT,
        max_bytes: int = MAX_BYTES,
        deadline: float = DEADLINE_SECONDS,
    ) -> None:
        self._timeout = timeout
        self._max_bytes = max_bytes
        self._deadline = deadline
        self._client: httpx.AsyncClient | None = None

    async def __aenter__(self) -> Fetcher:
        self._client = httpx.AsyncClient(
            timeout=self._timeout,
            follow_redirects=True,
            max_redirects=MAX_REDIRECTS,
            headers={"User-Agent": USER_AGENT, "Accept": _ACCEPT},
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

    async def get(self, url: str) -> bytes:
        """The body of ``url``; raise SourceError on HTTP >= 400, timeouts, size, redirect loops."""
        if self._client is None:
            raise RuntimeError("Fetcher used outside 'async with'")
        try:
            async with asyncio.timeout(self._deadline):
                return await self._get(self._client, url)
        except httpx.TooManyRedirects as exc:
            raise SourceError(f"{url}: more than {MAX_REDIRECTS} redirects (loop?)") from exc
        except (httpx.TimeoutException, TimeoutError) as exc:
            raise SourceError(f"{url}: timed out") from exc
        except httpx.InvalidURL as exc:
            raise SourceError(f"{url}: not a valid URL ({_one_line(exc)})") from exc
        except httpx.HTTPError as exc:
            raise SourceError(f"{url}: {_one_line(exc) or type(exc).__name__}") from exc

    async def _get(self, client: httpx.AsyncClient, url: str) -> bytes:
        async with client.stream("GET", url) as response:
            if response.status_code >= httpx.codes.BAD_REQUEST:
                reason = response.reason_phrase or "error"
                raise SourceError(f"{url}: HTTP {response.status_code} {reason}")
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


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())
