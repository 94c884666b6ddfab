"""RSS 2.0, RSS 1.0 (RDF) and Atom feeds read with feedparser, and JSON Feeds; HTTP(S) or file."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.request import url2pathname
from zoneinfo import ZoneInfo

import feedparser

from digest.cleaning import (
    clean_line,
    clean_title,
    html_to_paragraphs,
    remove_noise,
    split_paragraphs,
)
from digest.config import SourceSettings
from digest.errors import ArticleError, SourceError
from digest.models import Article
from digest.sources.dates import DatedArticle, Precision, Published, read_published
from digest.sources.fetching import Fetcher
from digest.sources.jsonfeed import is_json_feed, read_json_feed
from digest.sources.urls import https_only

_UTC = ZoneInfo("UTC")
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_EXCERPT_ENDINGS = ("[…]", "[...]", "…", "...")
_MAX_STANDFIRST_WORDS = 80
_READ_MORE = re.compile(
    r"(?:lire la suite|continuer la lecture|continue reading|read more)\W*$", re.IGNORECASE
)
_AUTHOR_FORMS = (re.compile(r"^\S+@\S+\s*\((.+)\)$"), re.compile(r"^(.+?)\s*<\S+@\S+>$"))
_EXPAT_POSITION = re.compile(r"^<unknown>:(\d+):(\d+): ")
_ENTITY_DECLARATION = re.compile(rb"<!ENTITY\s", re.IGNORECASE)
_PROLOG_BYTES = 65536


async def read_feed(
    source: SourceSettings, fetch: Fetcher, *, tz: ZoneInfo = _UTC
) -> tuple[list[Article], list[str]]:
    """The articles of a feed and the reasons items were skipped; SourceError if unreadable."""
    entries, skipped = await read_feed_entries(source, fetch, tz)
    return [entry.article for entry in entries], skipped


async def read_feed_entries(
    source: SourceSettings, fetch: Fetcher, tz: ZoneInfo
) -> tuple[list[DatedArticle], list[str]]:
    """Like ``read_feed``, keeping each date's precision for the week window."""
    entries, skipped, _ = await read_feed_source(source, fetch, tz)
    return entries, skipped


async def read_feed_source(
    source: SourceSettings, fetch: Fetcher, tz: ZoneInfo
) -> tuple[list[DatedArticle], list[str], list[str]]:
    """Entries, skipped items, and warnings on a feed read despite a fault (wrong encoding)."""
    location, data = await _load(source, fetch)
    where = f"source {source.name!r}: {location}"
    if is_json_feed(data):
        return (*read_json_feed(data, source, where, tz), [])
    parsed = await asyncio.to_thread(_parse, data, location)
    _refuse_entity_bombs(parsed, data, where)
    _check_is_feed(parsed, data, where)
    warnings = [f"{where}: {_one_line(parsed.bozo_exception)}"] if parsed.bozo else []
    entries, skipped = _entries(parsed, source, tz)
    return entries, skipped, warnings


def _entries(
    parsed: Any, source: SourceSettings, tz: ZoneInfo
) -> tuple[list[DatedArticle], list[str]]:
    entries: list[DatedArticle] = []
    skipped: list[str] = []
    for index, entry in enumerate(parsed.entries, start=1):
        try:
            entries.append(_entry_article(entry, source, tz))
        except ArticleError as exc:
            label = str(entry.get("title") or entry.get("link") or f"item {index}")
            skipped.append(f"{clean_line(label)}: {exc}")
    return entries, skipped


async def _load(source: SourceSettings, fetch: Fetcher) -> tuple[str, bytes]:
    url = source.url.strip()
    if url.startswith(("http://", "https://")):
        try:
            return url, await fetch.get(url)
        except SourceError as exc:
            raise SourceError(f"source {source.name!r}: {exc}") from exc
    path = _local_path(source)
    try:
        return str(path), await asyncio.to_thread(path.read_bytes)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise SourceError(f"source {source.name!r}: cannot read {path}: {reason}") from exc


def _one_line(exc: object) -> str:
    return _EXPAT_POSITION.sub(r"line \1, column \2: ", " ".join(str(exc).split()))


def _local_path(source: SourceSettings) -> Path:
    url = source.url.strip()
    if not url:
        if source.path is None:
            raise SourceError(f"source {source.name!r}: a feed needs a 'url' or a 'path'")
        return source.path
    scheme = urlsplit(url).scheme.lower()
    if scheme == "file":
        return Path(url2pathname(urlsplit(url).path))
    # One letter is a Windows drive ("C:\\feeds\\a.xml"), not a scheme.
    if len(scheme) > 1:
        raise SourceError(f"source {source.name!r}: unsupported URL scheme in {url!r}")
    return Path(url).expanduser()


def _parse(data: bytes, location: str) -> Any:
    # Bytes, never a string: feedparser would treat a string as a URL or a file to open.
    # The declared type lets feedparser take the encoding from the XML declaration (RFC 7303).
    headers = {"content-location": location, "content-type": "application/xml"}
    return feedparser.parse(data, response_headers=headers)


def _refuse_entity_bombs(parsed: Any, data: bytes, where: str) -> None:
    """A feed whose own entities the XML parser refused (billion laughs) is not read at all.

    feedparser would retry with its lenient parser, which drops the declarations and keeps
    the entity names as text: items titled "&lol9;".
    """
    if parsed.bozo and _ENTITY_DECLARATION.search(data[:_PROLOG_BYTES]):
        raise SourceError(
            f"{where} declares XML entities and the XML parser refused it "
            f"({_one_line(parsed.get('bozo_exception', ''))})"
        )


def _check_is_feed(parsed: Any, data: bytes, where: str) -> None:
    if parsed.entries:
        return
    head = data[:2048].lstrip().lower()
    if head.startswith(b"<!doctype html") or b"<html" in head:
        raise SourceError(f"{where} is an HTML page, not an RSS or Atom feed")
    if parsed.bozo:
        reason = " ".join(str(parsed.get("bozo_exception", "")).split())
        reason = _EXPAT_POSITION.sub(r"line \1, column \2: ", reason)
        raise SourceError(f"{where} is not well-formed XML ({reason})")
    if not parsed.version:
        raise SourceError(f"{where} is not an RSS or Atom feed")


def _entry_article(entry: Any, source: SourceSettings, tz: ZoneInfo) -> DatedArticle:
    title = _title(entry)
    published = _entry_date(entry, tz)
    body = _content_paragraphs(entry)
    summary = _html_paragraphs(str(entry.get("summary", "")), _detail_type(entry, "summary"))
    paragraphs = body or summary
    if not paragraphs:
        raise ArticleError("no content and no summary")
    standfirst = _standfirst(summary, body) if body else ""
    teaser = not body and _is_teaser(str(entry.get("summary", "")))
    article = Article(
        url=str(entry.get("link", "")).strip(),
        title=title,
        text="\n\n".join(paragraphs),
        published=published.moment,
        source=source.name,
        standfirst=standfirst,
        section=_section(entry) or source.section,
        author=_author(entry),
        image_url=_image(entry),
        guid=str(entry.get("id", "")).strip(),
    )
    return DatedArticle(article, published.precision, teaser)


def _is_teaser(summary: str) -> bool:
    """True when the feed's text is cut: it ends with an ellipsis or a "read more" link."""
    tail = " ".join(html_to_paragraphs(summary))[-80:].rstrip()
    return tail.endswith(_EXCERPT_ENDINGS) or bool(_READ_MORE.search(tail))


def _title(entry: Any) -> str:
    raw = str(entry.get("title", ""))
    if _detail_type(entry, "title") == "text/html":
        title = clean_line(" ".join(html_to_paragraphs(raw)))
    else:
        # feedparser calls a title plain text unless every tag in it is harmless; a title
        # with a <script> or a <b> is markup all the same, and its text is what one reads.
        title = clean_title(" ".join(remove_noise(split_paragraphs(raw))))
    if not title:
        raise ArticleError("no title")
    return title


def _entry_date(entry: Any, tz: ZoneInfo) -> Published:
    # dict.get: feedparser's own get() maps missing date keys onto others, with a warning.
    raw = str(dict.get(entry, "published") or dict.get(entry, "updated") or "")
    if not raw.strip():
        raise ArticleError("no publication date")
    try:
        return read_published(raw, tz)
    except ArticleError:
        # Formats only feedparser knows (old RSS variants): it gives them as UTC.
        parsed = dict.get(entry, "published_parsed") or dict.get(entry, "updated_parsed")
        if not isinstance(parsed, time.struct_time):
            raise
        moment = dt.datetime(*parsed[:6], tzinfo=dt.UTC).astimezone(tz)
        return Published(moment, Precision.INSTANT)


def _content_paragraphs(entry: Any) -> list[str]:
    contents = [c for c in entry.get("content", []) if str(c.get("value", "")).strip()]
    if not contents:
        return []
    html = [c for c in contents if c.get("type") in _HTML_TYPES]
    chosen = (html or contents)[0]
    return _html_paragraphs(str(chosen.get("value", "")), str(chosen.get("type", "")))


def _html_paragraphs(value: str, content_type: str) -> list[str]:
    if content_type == "text/plain":
        return remove_noise(split_paragraphs(value))
    return html_to_paragraphs(value)


def _detail_type(entry: Any, key: str) -> str:
    detail = entry.get(f"{key}_detail") or {}
    return str(detail.get("type", "text/html"))


def _standfirst(summary: list[str], body: list[str]) -> str:
    """The feed's summary as a standfirst, unless it is only the start of the body."""
    text = " ".join(summary)
    if not text or len(text.split()) > _MAX_STANDFIRST_WORDS or text.endswith(_EXCERPT_ENDINGS):
        return ""
    stem = text[:60]
    return "" if " ".join(body).startswith(stem) else text


def _section(entry: Any) -> str:
    for tag in entry.get("tags", []):
        term = clean_line(str(tag.get("label") or tag.get("term") or ""))
        if term:
            return term
    return ""


def _author(entry: Any) -> str:
    """The author's name; RSS gives "email (Name)", which feedparser splits wrongly on new TLDs."""
    raw = clean_line(str(entry.get("author") or ""))
    for pattern in _AUTHOR_FORMS:
        if match := pattern.match(raw):
            return match.group(1).strip()
    # A bare address is contact data, not a byline.
    return "" if "@" in raw and " " not in raw else raw


def _image(entry: Any) -> str:
    candidates: list[str] = []
    for media in entry.get("media_content", []):
        kind = str(media.get("medium") or media.get("type") or "image")
        if kind == "image" or kind.startswith("image/"):
            candidates.append(str(media.get("url", "")))
    for link in entry.get("links", []):
        if link.get("rel") == "enclosure" and str(link.get("type", "")).startswith("image/"):
            candidates.append(str(link.get("href", "")))
    candidates.extend(str(thumb.get("url", "")) for thumb in entry.get("media_thumbnail", []))
    return next((url for url in map(https_only, candidates) if url), "")
