"""The ``page`` kind: a hand-picked list of article URLs, each fetched and extracted.

Title, date, image, author and canonical URL come from the page (``digest.extraction``); a
page without a readable publication date is skipped with a reason. These pages are kept
whatever week their date falls in (an editor picked them), unless it is in the future. The
article links to the page's canonical URL when it names one over http(s), else to the URL
as configured.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from digest.config import SourceSettings
from digest.errors import ArticleError, SourceError
from digest.extraction import ExtractedPage
from digest.models import Article
from digest.sources.dates import DatedArticle, read_published
from digest.sources.fulltext import PageReader
from digest.sources.urls import https_only


async def read_page_entries(
    source: SourceSettings, reader: PageReader, tz: ZoneInfo
) -> tuple[list[DatedArticle], list[str]]:
    """The articles of the listed pages and the reasons pages were skipped."""
    urls = list(source.urls) or ([source.url] if source.url.strip() else [])
    if not urls:
        raise SourceError(f"source {source.name!r}: a page source needs 'urls' (or a 'url')")
    entries: list[DatedArticle] = []
    skipped: list[str] = []
    for result in await reader.read_pages([url.strip() for url in urls]):
        try:
            if result.page is None:
                raise ArticleError(result.error)
            entries.append(page_article(result.page, result.url, source, tz))
        except ArticleError as exc:
            skipped.append(f"{result.url}: {str(exc).removeprefix(result.url + ': ')}")
    return entries, skipped


def page_article(
    page: ExtractedPage, url: str, source: SourceSettings, tz: ZoneInfo
) -> DatedArticle:
    """An extracted page as a dated article; ArticleError without title, date or text."""
    if not page.title:
        raise ArticleError("the page has no title")
    if not page.published:
        raise ArticleError("the page gives no publication date")
    if not page.paragraphs and not page.standfirst:
        raise ArticleError("the page has no text")
    published = read_published(page.published, tz)
    canonical = page.canonical_url
    article = Article(
        url=canonical if canonical.startswith(("http://", "https://")) else url,
        title=page.title,
        text=page.text,
        published=published.moment,
        source=source.name,
        standfirst=page.standfirst,
        section=source.section,
        author=page.author,
        image_url=https_only(page.image_url),
    )
    return DatedArticle(article, published.precision)
