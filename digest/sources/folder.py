"""A folder of articles: Markdown files with front matter, and saved pages (``.txt``).

An HTML page (``.html``, ``.htm``) is extracted like a fetched page (``digest.extraction``):
title, date, standfirst, text, image and author come from the page, the URL from its
canonical link, else ``base_url`` + the file stem.

A Markdown article starts with a front matter block between two ``---`` lines, one
``key: value`` a line (keys: title, url, date, section, image, author, standfirst; title and
date required; ``#`` starts a comment line). Values are taken literally to the end of the
line, except that one pair of surrounding double quotes is removed when the value holds no
other double quote (``title: "Venise : la lagune"``). Unknown or repeated keys are errors.

Without ``standfirst:``, the first body paragraph is the standfirst (unless it is a
subheading or the only paragraph). Without ``url:``, the URL is ``base_url`` + the file
stem, or "" when the source has no base_url. Images must be https, else none is kept.
Names starting with ``_``, ``.``, README, ATTRIBUTION, LICENSE or COPYING are not articles
and are passed over silently; any other file that is not ``.md``, ``.html`` or ``.txt`` is skipped
with a reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from pathlib import Path
from zoneinfo import ZoneInfo

import markdown

from digest.cleaning import clean_line, html_to_paragraphs, looks_like_heading
from digest.config import SourceSettings
from digest.errors import ArticleError, SourceError
from digest.extraction import extract_article
from digest.models import Article
from digest.sources.dates import DatedArticle, read_published
from digest.sources.page import page_article
from digest.sources.saved_page import parse_saved_page
from digest.sources.urls import https_only

_NOT_ARTICLES = ("_", ".", "README", "ATTRIBUTION", "LICENSE", "COPYING")
_FENCE = "---"
_KEY_VALUE = re.compile(r"^([A-Za-z_]+)\s*:\s*(.*)$")


@dataclass(frozen=True, slots=True)
class FrontMatter:
    """The front matter block of a Markdown article."""

    title: str = ""
    url: str = ""
    date: str = ""
    section: str = ""
    image: str = ""
    author: str = ""
    standfirst: str = ""


_KEYS = tuple(f.name for f in fields(FrontMatter))


def read_folder(source: SourceSettings, tz: ZoneInfo) -> tuple[list[Article], list[str]]:
    """The articles of a folder and the reasons files were skipped; SourceError if unreadable."""
    entries, skipped = read_folder_entries(source, tz)
    return [entry.article for entry in entries], skipped


def read_folder_entries(
    source: SourceSettings, tz: ZoneInfo
) -> tuple[list[DatedArticle], list[str]]:
    """Like ``read_folder``, keeping each date's precision for the week window."""
    entries: list[DatedArticle] = []
    skipped: list[str] = []
    for path in _article_files(source):
        try:
            entries.append(read_article_file(path, source, tz))
        except ArticleError as exc:
            skipped.append(f"{path.name}: {exc}")
    return entries, skipped


def parse_front_matter(text: str) -> tuple[FrontMatter, str]:
    """Split a Markdown file into its front matter and its body; ArticleError if malformed."""
    lines = text.lstrip("\ufeff").splitlines()
    if not lines or lines[0].strip() != _FENCE:
        raise ArticleError("no front matter: the file must start with a '---' line")
    end = next((i for i, line in enumerate(lines[1:], 1) if line.strip() == _FENCE), None)
    if end is None:
        raise ArticleError("front matter is not closed by a '---' line")
    values: dict[str, str] = {}
    for number, line in enumerate(lines[1:end], start=2):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, value = _key_value(line, number)
        if key in values:
            raise ArticleError(f"front matter line {number}: '{key}' given twice")
        values[key] = value
    return FrontMatter(**values), "\n".join(lines[end + 1 :])


def _article_files(source: SourceSettings) -> list[Path]:
    folder = source.path
    if folder is None:
        raise SourceError(f"source {source.name!r}: a folder source needs a 'path'")
    if not folder.is_dir():
        state = "is not a folder" if folder.exists() else "does not exist"
        raise SourceError(f"source {source.name!r}: folder {folder} {state}")
    try:
        paths = sorted(folder.iterdir())
    except OSError as exc:
        raise SourceError(f"source {source.name!r}: cannot list {folder}: {exc.strerror}") from exc
    return [p for p in paths if p.is_file() and not p.name.startswith(_NOT_ARTICLES)]


def read_article_file(path: Path, source: SourceSettings, tz: ZoneInfo) -> DatedArticle:
    """One article file (.md with front matter, or a saved page .txt); ArticleError if not."""
    suffix = path.suffix.lower()
    if suffix in (".html", ".htm"):
        return _html_article(path, source, tz)
    if suffix not in (".md", ".txt"):
        raise ArticleError("not an article file (.md, .html or .txt)")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ArticleError("not UTF-8 text") from exc
    except OSError as exc:
        raise ArticleError(f"cannot read: {exc.strerror}") from exc
    if suffix == ".md":
        return _markdown_article(text, path.stem, source, tz)
    return _saved_page_article(text, path.stem, source, tz)


def _markdown_article(text: str, stem: str, source: SourceSettings, tz: ZoneInfo) -> DatedArticle:
    front, body = parse_front_matter(text)
    for required in ("title", "date"):
        if not getattr(front, required):
            raise ArticleError(f"front matter has no '{required}'")
    published = read_published(front.date, tz)
    paragraphs = html_to_paragraphs(markdown.markdown(body))
    standfirst = clean_line(front.standfirst)
    if not standfirst and len(paragraphs) > 1 and not looks_like_heading(paragraphs[0]):
        standfirst = paragraphs.pop(0)
    if not standfirst and not paragraphs:
        raise ArticleError("no text")
    article = Article(
        url=front.url.strip() or _default_url(source, stem),
        title=clean_line(front.title),
        text="\n\n".join(paragraphs),
        published=published.moment,
        source=source.name,
        standfirst=standfirst,
        section=clean_line(front.section) or source.section,
        author=clean_line(front.author),
        image_url=https_only(front.image),
    )
    return DatedArticle(article, published.precision)


def _saved_page_article(text: str, stem: str, source: SourceSettings, tz: ZoneInfo) -> DatedArticle:
    page = parse_saved_page(text, name=stem, tz=tz)
    article = Article(
        url=_default_url(source, stem),
        title=page.title,
        text=page.text,
        published=page.published.moment,
        source=source.name,
        standfirst=page.standfirst,
        section=source.section,
    )
    return DatedArticle(article, page.published.precision)


def _html_article(path: Path, source: SourceSettings, tz: ZoneInfo) -> DatedArticle:
    """A saved HTML page, extracted like a fetched one; it links to its canonical URL."""
    try:
        html = path.read_bytes()
    except OSError as exc:
        raise ArticleError(f"cannot read: {exc.strerror}") from exc
    page = extract_article(html)
    return page_article(page, _default_url(source, path.stem), source, tz)


def _key_value(line: str, number: int) -> tuple[str, str]:
    match = _KEY_VALUE.match(line.strip())
    if match is None:
        raise ArticleError(f"front matter line {number}: expected 'key: value'")
    key, value = match.group(1).lower(), match.group(2).strip()
    if key not in _KEYS:
        raise ArticleError(f"front matter line {number}: unknown key '{key}' ({', '.join(_KEYS)})")
    if len(value) >= 2 and value[0] == value[-1] == '"' and '"' not in value[1:-1]:
        value = value[1:-1]
    return key, value


def _default_url(source: SourceSettings, stem: str) -> str:
    base = source.base_url.strip()
    if not base:
        return ""
    return base + stem if base.endswith("/") else f"{base}/{stem}"
