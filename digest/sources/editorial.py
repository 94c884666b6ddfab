"""The per-week editorial file: ``{editorial_dir}/2025-W04.toml``.

Keys (all optional): ``featured`` (URL of the story of the week, pinned), ``exclude`` (URLs
left out of the issue) and ``add`` (URLs of pages to fetch and add, whatever their date).
URLs are compared by their canonical form (``urls.canonical_url``). A missing file is an
empty one; a malformed one is a ConfigError naming the file and what to fix.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from digest.errors import ConfigError
from digest.models import IsoWeek
from digest.sources.urls import canonical_url

_KEYS = ("featured", "exclude", "add")


@dataclass(frozen=True, slots=True)
class Editorial:
    """What the editors decided for one week."""

    featured: str = ""
    exclude: frozenset[str] = frozenset()
    add: tuple[str, ...] = ()

    def excludes(self, url: str) -> bool:
        return bool(url) and canonical_url(url) in self.exclude


def load_editorial(folder: Path | None, week: IsoWeek) -> Editorial:
    """The week's editorial file read from ``folder``; an empty Editorial when absent."""
    if folder is None:
        return Editorial()
    path = folder / f"{week}.toml"
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        return Editorial()
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"editorial file {path} is not valid TOML: {exc}") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read editorial file {path}: {exc.strerror}") from exc
    unknown = sorted(set(data) - set(_KEYS))
    if unknown:
        raise ConfigError(f"editorial file {path}: unknown key '{unknown[0]}' ({', '.join(_KEYS)})")
    featured = data.get("featured", "")
    if not isinstance(featured, str):
        raise ConfigError(f"editorial file {path}: 'featured' must be one URL in quotes")
    return Editorial(
        featured=featured.strip(),
        exclude=frozenset(canonical_url(url) for url in _urls(data, "exclude", path)),
        add=tuple(_urls(data, "add", path)),
    )


def _urls(data: dict[str, object], key: str, path: Path) -> list[str]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"editorial file {path}: '{key}' must be a list of URLs in quotes")
    urls = [v.strip() for v in value if isinstance(v, str) and v.strip()]
    for url in urls:
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"editorial file {path}: '{key}' has {url!r}, not an http(s) URL")
    return urls
