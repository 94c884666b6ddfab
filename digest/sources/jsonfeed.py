"""JSON Feed 1.0 and 1.1 (https://jsonfeed.org/version/1.1), read into dated articles.

An item needs a title (an untitled item is skipped with a reason), ``date_published`` (or
``date_modified``) and text:
``content_html``, else ``content_text``, else ``summary``. ``summary`` next to a body is the
standfirst; ``authors`` (1.1) or ``author`` (1.0), ``tags`` (first one is the section),
``image`` or ``banner_image`` are kept. An item whose only text is a ``summary`` ending in an
ellipsis is a teaser (its page is fetched when the source allows it).
"""

from __future__ import annotations

import json
from typing import Any
from zoneinfo import ZoneInfo

from digest.cleaning import clean_line, html_to_paragraphs, remove_noise, split_paragraphs
from digest.config import SourceSettings
from digest.errors import ArticleError, SourceError
from digest.models import Article
from digest.sources.dates import DatedArticle, read_published
from digest.sources.urls import https_only

_VERSION_PREFIX = "https://jsonfeed.org/version/1"
_EXCERPT_ENDINGS = ("[…]", "[...]", "…", "...")


def is_json_feed(data: bytes) -> bool:
    """True when the body looks like JSON rather than XML or HTML."""
    return data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"{"


def read_json_feed(
    data: bytes, source: SourceSettings, where: str, tz: ZoneInfo
) -> tuple[list[DatedArticle], list[str]]:
    """The items of a JSON Feed and the reasons items were skipped; SourceError if not one."""
    try:
        feed = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise SourceError(f"{where} is not valid JSON ({exc})") from exc
    if not isinstance(feed, dict) or not str(feed.get("version", "")).startswith(_VERSION_PREFIX):
        raise SourceError(f"{where} is JSON but not a JSON Feed (no jsonfeed.org 'version')")
    items = feed.get("items")
    if not isinstance(items, list):
        raise SourceError(f"{where} is a JSON Feed without an 'items' list")
    entries: list[DatedArticle] = []
    skipped: list[str] = []
    for index, item in enumerate(items, start=1):
        try:
            if not isinstance(item, dict):
                raise ArticleError("not a JSON object")
            entries.append(_item_article(item, source, tz))
        except ArticleError as exc:
            label = _text(item, "title") or _text(item, "url") if isinstance(item, dict) else ""
            skipped.append(f"{clean_line(label) or f'item {index}'}: {exc}")
    return entries, skipped


def _item_article(item: dict[str, Any], source: SourceSettings, tz: ZoneInfo) -> DatedArticle:
    title = clean_line(" ".join(html_to_paragraphs(_text(item, "title"))))
    if not title:
        raise ArticleError("no title")
    raw_date = _text(item, "date_published") or _text(item, "date_modified")
    if not raw_date:
        raise ArticleError("no publication date")
    published = read_published(raw_date, tz)
    summary = clean_line(_text(item, "summary"))
    if html := _text(item, "content_html"):
        body = html_to_paragraphs(html)
    else:
        body = remove_noise(split_paragraphs(_text(item, "content_text")))
    if not body and not summary:
        raise ArticleError("no content and no summary")
    article = Article(
        url=_text(item, "url") or _text(item, "external_url"),
        title=title,
        text="\n\n".join(body) if body else summary,
        published=published.moment,
        source=source.name,
        standfirst=summary if body and not summary.endswith(_EXCERPT_ENDINGS) else "",
        section=_section(item) or source.section,
        author=_author(item),
        image_url=https_only(_text(item, "image") or _text(item, "banner_image")),
        guid=_text(item, "id"),
    )
    return DatedArticle(article, published.precision, not body and _is_cut(summary))


def _text(item: dict[str, Any], key: str) -> str:
    value = item.get(key)
    return value.strip() if isinstance(value, str) else ""


def _section(item: dict[str, Any]) -> str:
    tags = item.get("tags")
    if isinstance(tags, list):
        return next((clean_line(t) for t in tags if isinstance(t, str) and t.strip()), "")
    return ""


def _author(item: dict[str, Any]) -> str:
    authors = item.get("authors")
    if not isinstance(authors, list):
        authors = [item.get("author")]
    names = [clean_line(str(a.get("name", ""))) for a in authors if isinstance(a, dict)]
    return ", ".join(name for name in names if name)


def _is_cut(summary: str) -> bool:
    return summary.endswith(_EXCERPT_ENDINGS)
