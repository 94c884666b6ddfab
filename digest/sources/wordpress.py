"""The ``wordpress`` kind: posts of a WordPress site through its REST API.

``GET {url}/wp-json/wp/v2/posts?after=…&before=…&per_page=100&page=N&_embed=1``, page after
page until a short page (or WordPress's 400 past the last page). ``_embed`` brings the
featured image (``wp:featuredmedia``), the author's name and the category names
(``wp:term``); the first category is the section. ``excerpt`` is the standfirst when it is
not only the start of the text. Dates are ``date_gmt`` (UTC), else ``date`` (site time).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from digest.cleaning import clean_line, html_to_paragraphs
from digest.config import SourceSettings
from digest.errors import ArticleError, SourceError
from digest.models import Article
from digest.sources.dates import DatedArticle, Precision, Published, read_published
from digest.sources.fetching import Fetcher
from digest.sources.urls import https_only

PER_PAGE = 100
MAX_PAGES = 50
_API = "/wp-json/wp/v2/posts"
_EXCERPT_ENDINGS = ("[…]", "[...]", "…", "...")


async def read_wordpress_entries(
    source: SourceSettings,
    fetch: Fetcher,
    tz: ZoneInfo,
    window: tuple[dt.datetime, dt.datetime],
) -> tuple[list[DatedArticle], list[str]]:
    """The posts published in ``window`` and the reasons posts were skipped."""
    base = source.url.strip().rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise SourceError(f"source {source.name!r}: a wordpress source needs an http(s) 'url'")
    entries: list[DatedArticle] = []
    skipped: list[str] = []
    for number in range(1, MAX_PAGES + 1):
        posts = await _posts_page(source, fetch, base, window, number)
        for post in posts:
            try:
                entries.append(_post_article(post, source, tz))
            except ArticleError as exc:
                skipped.append(f"post {_label(post)}: {exc}")
        if len(posts) < PER_PAGE:
            break
    return entries, skipped


async def _posts_page(
    source: SourceSettings,
    fetch: Fetcher,
    base: str,
    window: tuple[dt.datetime, dt.datetime],
    number: int,
) -> list[Any]:
    query = {
        "after": window[0].astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S"),
        "before": window[1].astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S"),
        "per_page": str(PER_PAGE),
        "page": str(number),
        "_embed": "1",
        "orderby": "date",
        "order": "desc",
    }
    url = f"{base}{_API}?{urlencode(query)}"
    try:
        data = await fetch.get(url)
    except SourceError as exc:
        if number > 1 and "HTTP 400" in str(exc):
            return []  # WordPress answers 400 past the last page
        raise SourceError(f"source {source.name!r}: {exc}") from exc
    try:
        posts = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise SourceError(
            f"source {source.name!r}: {url} is not JSON (not a WordPress API?)"
        ) from exc
    if not isinstance(posts, list):
        raise SourceError(f"source {source.name!r}: {url} is not a list of posts")
    return posts


def _post_article(post: Any, source: SourceSettings, tz: ZoneInfo) -> DatedArticle:
    if not isinstance(post, dict):
        raise ArticleError("not a JSON object")
    title = clean_line(" ".join(html_to_paragraphs(_rendered(post, "title"))))
    if not title:
        raise ArticleError("no title")
    published = _published(post, tz)
    body = html_to_paragraphs(_rendered(post, "content"))
    excerpt = " ".join(html_to_paragraphs(_rendered(post, "excerpt")))
    if not body and not excerpt:
        raise ArticleError("no content and no excerpt")
    found = post.get("_embedded")
    embedded: dict[str, Any] = found if isinstance(found, dict) else {}
    article = Article(
        url=str(post.get("link", "")).strip(),
        title=title,
        text="\n\n".join(body) if body else excerpt,
        published=published.moment,
        source=source.name,
        standfirst=_standfirst(excerpt, body),
        section=_category(embedded) or source.section,
        author=_author(embedded),
        image_url=_featured_image(embedded),
        guid=str((post.get("guid") or {}).get("rendered", "")).strip()
        if isinstance(post.get("guid"), dict)
        else "",
    )
    teaser = not body and excerpt.endswith(_EXCERPT_ENDINGS)
    return DatedArticle(article, published.precision, teaser)


def _rendered(post: dict[str, Any], key: str) -> str:
    value = post.get(key)
    if isinstance(value, dict):
        return str(value.get("rendered", ""))
    return value if isinstance(value, str) else ""


def _published(post: dict[str, Any], tz: ZoneInfo) -> Published:
    gmt = str(post.get("date_gmt") or "").strip()
    if gmt:
        moment = read_published(gmt, ZoneInfo("UTC")).moment
        return Published(moment.astimezone(tz), Precision.INSTANT)
    local = str(post.get("date") or "").strip()
    if not local:
        raise ArticleError("no publication date")
    return read_published(local, tz)


def _standfirst(excerpt: str, body: list[str]) -> str:
    if not body or not excerpt or excerpt.endswith(_EXCERPT_ENDINGS):
        return ""
    return "" if " ".join(body).startswith(excerpt[:60]) else excerpt


def _category(embedded: dict[str, Any]) -> str:
    for group in embedded.get("wp:term") or []:
        for term in group if isinstance(group, list) else []:
            if isinstance(term, dict) and term.get("taxonomy") == "category":
                name = clean_line(" ".join(html_to_paragraphs(str(term.get("name", "")))))
                if name:
                    return name
    return ""


def _author(embedded: dict[str, Any]) -> str:
    authors = embedded.get("author") or []
    names = [clean_line(str(a.get("name", ""))) for a in authors if isinstance(a, dict)]
    return ", ".join(name for name in names if name)


def _featured_image(embedded: dict[str, Any]) -> str:
    for media in embedded.get("wp:featuredmedia") or []:
        if isinstance(media, dict) and (url := https_only(str(media.get("source_url", "")))):
            return url
    return ""


def _label(post: Any) -> str:
    if isinstance(post, dict):
        return str(post.get("id", "?"))
    return "?"
