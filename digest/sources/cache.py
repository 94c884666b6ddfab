"""An on-disk HTTP cache for the sources: bodies with their validators (ETag, Last-Modified).

One file per URL, named by the SHA-256 of the URL: a first line of JSON (the URL, the
validators, when it was fetched), then the body's bytes. A rebuild sends conditional GETs
and takes the body from here on ``304 Not Modified``; entries younger than a source's
``max_age`` are not asked for at all. A damaged entry is a miss, never an error.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class CachedResponse:
    """A body kept from an earlier fetch and what is needed to revalidate it."""

    body: bytes
    etag: str = ""
    last_modified: str = ""
    fetched_at: float = 0.0

    def validators(self) -> dict[str, str]:
        """The conditional request headers this entry allows."""
        headers: dict[str, str] = {}
        if self.etag:
            headers["If-None-Match"] = self.etag
        if self.last_modified:
            headers["If-Modified-Since"] = self.last_modified
        return headers

    def age(self) -> float:
        return time.time() - self.fetched_at


class HttpCache:
    """Bodies and validators by URL in one folder (created on first write)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def load(self, url: str) -> CachedResponse | None:
        """The entry for ``url``, or None when absent or unreadable."""
        try:
            data = self._path(url).read_bytes()
            head, _, body = data.partition(b"\n")
            meta = json.loads(head)
        except (OSError, ValueError):
            return None
        if not isinstance(meta, dict) or meta.get("url") != url:
            return None
        return CachedResponse(
            body=body,
            etag=str(meta.get("etag", "")),
            last_modified=str(meta.get("last_modified", "")),
            fetched_at=float(meta.get("fetched_at", 0.0)),
        )

    def store(self, url: str, entry: CachedResponse) -> None:
        """Keep ``entry`` for ``url``; a write that fails leaves the cache as it was."""
        meta = {
            "url": url,
            "etag": entry.etag,
            "last_modified": entry.last_modified,
            "fetched_at": entry.fetched_at,
        }
        # json.dumps escapes control characters, so the first line holds all of the meta.
        data = json.dumps(meta).encode("utf-8") + b"\n" + entry.body
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            write_atomically(self._path(url), data)
        except OSError:
            return  # a cache that cannot be written only costs a refetch next time

    def touch(self, url: str, entry: CachedResponse) -> None:
        """Record that ``entry`` was just revalidated."""
        self.store(url, CachedResponse(entry.body, entry.etag, entry.last_modified, time.time()))

    def _path(self, url: str) -> Path:
        return self.folder / hashlib.sha256(url.encode("utf-8")).hexdigest()


def write_atomically(path: Path, data: bytes) -> None:
    """Write aside, then rename over: a reader never sees half a file."""
    partial = path.with_name(f"{path.name}.{os.getpid()}.part")
    partial.write_bytes(data)
    partial.replace(path)
