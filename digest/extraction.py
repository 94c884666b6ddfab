"""HTML page -> clean article text and metadata, with trafilatura and our own clean-up.

trafilatura finds the main text and the metadata. Around it, this module:

- removes, before extraction, the page's noise elements: UI labels ("Lecture Zen",
  "Résumer l'article") wherever they sit (``<p>``, ``<span>``, ``<div role="button">``),
  newsletter boxes, "À lire aussi" blocks;
- keeps the standfirst (chapô), taken from the page's own standfirst element, or else its
  description metadata, even where the page puts it outside the body container; the
  standfirst is never repeated at the top of the body;
- cleans the text lines with ``digest.cleaning`` ("Publié le … à …h…" stamps, labels);
- learns a source's boilerplate from the lines that repeat across its pages
  (``remove_boilerplate``).
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import trafilatura
from lxml import etree  # type: ignore[import-untyped]
from trafilatura.utils import load_html

from digest.cleaning import clean_line, clean_title, is_label_line, remove_noise
from digest.errors import ArticleError

# Lines that repeat on this share of a source's pages (and on at least MIN_REPEATS of them)
# are the site's own furniture, not an article's text.
BOILERPLATE_SHARE = 0.3
BOILERPLATE_MIN_REPEATS = 3
# trafilatura's fast mode first; below this many words, again with its fallback extractors.
FAST_ENOUGH_WORDS = 150
# Fewer words than this is a page's furniture (a menu, a cookie notice), not an article.
MIN_WORDS = 8
_MAX_LABEL_CHARS = 300
_MAX_BLOCK_CHARS = 700
_MAX_NAMED_BOX_CHARS = 2000
_STANDFIRST_WORDS = (6, 120)
_EXCERPT_ENDINGS = ("[…]", "[...]", "…", "...")
_NOISE_NAMES = re.compile(
    r"newsletter|lire[-_]?aussi|read[-_]?also|voir[-_]?aussi|related|share|social|partage",
    re.IGNORECASE,
)
_STANDFIRST_NAMES = re.compile(
    r"(?:^|[\s_-])(?:chapo|chapeau|standfirst|article[-_]?lead|lead|lede|intro|dek|"
    r"summary|excerpt|article[-_]?description|subheadline|subtitle)(?:$|[\s_-])",
    re.IGNORECASE,
)
_SEE_ALSO = re.compile(r"^\W*(?:[àa]\s+)?(?:lire|voir)\s+(?:aussi|également)\b", re.IGNORECASE)
_NEWSLETTER = re.compile(
    r"^(?:inscrivez-vous|abonnez-vous|recevez|s['’]inscrire|je m['’]abonne).{0,200}newsletter",
    re.IGNORECASE,
)
# Every label, byline or box that _is_noise_text recognises holds one of these words.
_NOISE_HINT = re.compile(
    r"zen|sum|publi|jour|modifi|actualis|partag|lire|voir|newsletter|apparu|appeared",
    re.IGNORECASE,
)
_LABEL_TAGS = frozenset({"p", "span", "div", "button", "a", "li", "strong", "em", "b", "small"})
_KEEP_TAGS = frozenset({"html", "body", "article", "main"})
_DECLARED_CHARSET = re.compile(rb"<meta[^>]+charset|<\?xml[^>]+encoding", re.IGNORECASE)
_CHARSET_SCAN_BYTES = 8192


@dataclass(frozen=True, slots=True)
class ExtractedPage:
    """What a page holds as an article, cleaned; ``published`` as the page writes it."""

    title: str
    standfirst: str
    paragraphs: tuple[str, ...]
    published: str = ""
    author: str = ""
    image_url: str = ""
    canonical_url: str = ""

    @property
    def text(self) -> str:
        """The body, paragraphs separated by a blank line."""
        return "\n\n".join(self.paragraphs)


def extract_article(html: str | bytes, url: str = "") -> ExtractedPage:
    """Extract the article of one HTML page; ArticleError when there is none."""
    tree = _parse(html)
    meta = _page_metadata(tree)
    standfirst = _standfirst_element(tree)
    _remove_noise_elements(tree)
    bold = _bold_leads(tree)
    # trafilatura's own metadata pass is costly: only when the page's markup lacks some.
    needs_metadata = not (meta.title and meta.published)
    doc = _trafilatura(tree, url, needs_metadata, fast=True)
    if doc is None or len(str(doc.text or "").split()) < FAST_ENOUGH_WORDS:
        # A thin result: let trafilatura compare with its fallback extractors too.
        doc = _trafilatura(tree, url, needs_metadata, fast=False) or doc
    if doc is None:
        raise ArticleError("no article text found in the page")
    return _assemble(doc, meta, standfirst, bold, url)


def _trafilatura(tree: Any, url: str, with_metadata: bool, *, fast: bool) -> Any:
    """trafilatura's Document for ``tree`` (which it copies, never changes), or None."""
    try:
        doc = trafilatura.bare_extraction(
            tree, url=url or None, fast=fast, with_metadata=with_metadata, include_comments=False
        )
    except (ValueError, TypeError, etree.LxmlError) as exc:
        raise ArticleError(f"cannot extract the page's text ({exc})") from exc
    return doc if isinstance(doc, trafilatura.settings.Document) else None


def remove_boilerplate(pages: Sequence[ExtractedPage]) -> list[ExtractedPage]:
    """Drop from each page the lines that repeat across a source's pages."""
    repeated = learn_boilerplate(pages)
    if not repeated:
        return list(pages)
    cleaned: list[ExtractedPage] = []
    for page in pages:
        kept = tuple(p for p in page.paragraphs if _line_key(p) not in repeated)
        # A page made only of such lines is a copy of another, not furniture: keep it whole.
        cleaned.append(dataclasses.replace(page, paragraphs=kept) if kept else page)
    return cleaned


def learn_boilerplate(pages: Sequence[ExtractedPage]) -> frozenset[str]:
    """The normalised lines present on enough of the pages to be the site's own furniture."""
    # The same page twice (under two URLs) teaches nothing: count distinct pages.
    distinct = {page.paragraphs for page in pages}
    counts: Counter[str] = Counter()
    for paragraphs in distinct:
        counts.update({_line_key(p) for p in paragraphs})
    threshold = max(BOILERPLATE_MIN_REPEATS, BOILERPLATE_SHARE * len(distinct))
    return frozenset(line for line, count in counts.items() if count >= threshold)


def _line_key(line: str) -> str:
    return " ".join(line.lower().split())


def _parse(html: str | bytes) -> Any:
    # trafilatura's loader: its encoding detection and its parser (no comments, no PIs).
    try:
        tree = load_html(_undeclared_as_windows_1252(html))
    except (etree.ParserError, ValueError, TypeError) as exc:
        raise ArticleError(f"not an HTML page ({exc})") from exc
    if tree is None:
        raise ArticleError("not an HTML page")
    return tree


def _undeclared_as_windows_1252(html: str | bytes) -> str | bytes:
    """Bytes that name no charset and are not UTF-8, decoded as windows-1252.

    That is what browsers do for a French page (the WHATWG encoding sniffing's locale
    default); a statistical guess reads "à" and "œ" of such pages as Central European.
    """
    if isinstance(html, str) or html.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):
        return html
    if _DECLARED_CHARSET.search(html[:_CHARSET_SCAN_BYTES]):
        return html
    try:
        html.decode("utf-8")
    except UnicodeDecodeError:
        return html.decode("windows-1252", "replace")
    return html


@dataclass(frozen=True, slots=True)
class _Meta:
    title: str = ""
    description: str = ""
    published: str = ""
    author: str = ""
    image: str = ""
    canonical: str = ""


def _page_metadata(tree: Any) -> _Meta:
    """What the page's own markup says, read before any element is removed."""

    def first(*xpaths: str) -> str:
        for xpath in xpaths:
            for value in tree.xpath(xpath):
                text = clean_line(str(value))
                if text:
                    return text
        return ""

    return _Meta(
        title=first("//head/title/text()", "//meta[@property='og:title']/@content", "//h1//text()"),
        description=first(
            "//meta[@property='og:description']/@content",
            "//meta[@name='description']/@content",
        ),
        published=first(
            "//meta[@property='article:published_time']/@content",
            "//*[@itemprop='datePublished']/@content",
            "//*[@itemprop='datePublished']/@datetime",
            "//time/@datetime",
        ),
        author=first(
            "//meta[@name='author']/@content",
            "//meta[@property='article:author']/@content[not(starts-with(., 'http'))]",
            "//*[@itemprop='author']//*[@itemprop='name']/@content",
            "//*[@itemprop='author']//*[@itemprop='name']//text()",
            "//*[@rel='author']//text()",
        ),
        image=first("//meta[@property='og:image']/@content", "//*[@itemprop='image']/@src"),
        canonical=first(
            "//link[@rel='canonical']/@href",
            "//meta[@property='og:url']/@content",
            "//*[@itemprop='mainEntityOfPage']/@content",
        ),
    )


def _standfirst_element(tree: Any) -> str:
    """The text of the page's own standfirst element (class or itemprop), if it has one."""
    for element in tree.iter("p", "div", "h2", "span", "strong"):
        names = f"{element.get('class', '')} {element.get('id', '')} {element.get('itemprop', '')}"
        if not _STANDFIRST_NAMES.search(names) or _NOISE_NAMES.search(names):
            continue
        text = clean_line(element.text_content())
        if _is_standfirst(text):
            return text
    return ""


def _bold_leads(tree: Any) -> list[str]:
    """Bold runs that end a sentence: a standfirst when one opens the body (a common chapô)."""
    texts = (clean_line(e.text_content()) for e in tree.iter("strong", "b"))
    return [t for t in texts if _is_standfirst(t) and t.rstrip('»"” ').endswith((".", "!", "?"))]


def _bold_lead(paragraphs: list[str], bold: list[str]) -> str:
    opening = _words(paragraphs[0]) if paragraphs else ""
    return next((t for t in bold if (opening + " ").startswith(_words(t) + " ")), "")


def _is_standfirst(text: str) -> bool:
    low, high = _STANDFIRST_WORDS
    return low <= len(text.split()) <= high and not text.endswith(_EXCERPT_ENDINGS)


def _remove_noise_elements(tree: Any) -> None:
    """Remove UI labels, newsletter boxes and "À lire aussi" blocks from the page."""
    doomed: list[Any] = []
    for element in tree.iter(etree.Element):
        if element.tag in _KEEP_TAGS:
            continue
        names = f"{element.get('class', '')} {element.get('id', '')}"
        if _NOISE_NAMES.search(names) and element.tag not in ("p", "span"):
            # A box, never a container of the article that happens to carry such a name.
            if len(element.text_content()) <= _MAX_NAMED_BOX_CHARS:
                doomed.append(element)
        elif element.get("role") == "button" or element.tag in _LABEL_TAGS:
            text = " ".join(element.text_content().split())
            if len(text) <= _MAX_LABEL_CHARS and _is_noise_text(text):
                doomed.append(_noise_block(element) if _SEE_ALSO.match(text) else element)
    for element in doomed:
        _drop(element)


def _is_noise_text(text: str) -> bool:
    if not text or not _NOISE_HINT.search(text):
        return False  # most elements: no need for the full label patterns
    return is_label_line(text) or bool(_NEWSLETTER.match(text))


def _noise_block(label: Any) -> Any:
    """The smallest container around a "À lire aussi" label that is only that block."""
    block = label
    parent = label.getparent()
    while parent is not None and parent.tag not in _KEEP_TAGS:
        if len(" ".join(parent.text_content().split())) > _MAX_BLOCK_CHARS:
            break
        block, parent = parent, parent.getparent()
    return block


def _drop(element: Any) -> None:
    """Remove an element but keep its tail text, which belongs to the parent."""
    if element.getparent() is not None:
        element.drop_tree()


def _assemble(doc: Any, meta: _Meta, standfirst: str, bold: list[str], url: str) -> ExtractedPage:
    lines = [line for line in str(doc.text or "").splitlines() if line.strip()]
    paragraphs = remove_noise(lines)
    title = clean_title(meta.title or str(doc.title or ""))
    while paragraphs and _words(paragraphs[0]) == _words(title):
        paragraphs.pop(0)  # the headline, repeated at the top of the body
    standfirst = standfirst or _bold_lead(paragraphs, bold)
    if not standfirst and meta.description and _is_standfirst(meta.description):
        standfirst = meta.description
    paragraphs, standfirst = _place_standfirst(paragraphs, standfirst)
    if len(" ".join([standfirst, *paragraphs]).split()) < MIN_WORDS:
        raise ArticleError("no article text found in the page")
    return ExtractedPage(
        title=title,
        standfirst=standfirst,
        paragraphs=tuple(paragraphs),
        published=meta.published or str(doc.date or ""),
        author=meta.author or clean_line(str(doc.author or "")),
        image_url=_absolute(meta.image or str(doc.image or "")),
        canonical_url=meta.canonical or str(doc.url or "") or url,
    )


def _place_standfirst(paragraphs: list[str], standfirst: str) -> tuple[list[str], str]:
    """The body without the standfirst, and the standfirst (found or taken from the body)."""
    if not standfirst:
        return paragraphs, ""
    key = _words(standfirst)
    for index, paragraph in enumerate(paragraphs[:3]):
        words = _words(paragraph)
        if words == key:
            return paragraphs[:index] + paragraphs[index + 1 :], standfirst
        if words.startswith(key + " "):
            # The page glued the standfirst to the first paragraph: cut it off.
            rest = _cut_words(paragraph, len(key.split()))
            return [*paragraphs[:index], rest, *paragraphs[index + 1 :]], standfirst
    if key in _words(" ".join(paragraphs)):
        # The description is a passage of the body, not a standfirst of its own.
        return paragraphs, ""
    return paragraphs, standfirst


def _words(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def _cut_words(text: str, count: int) -> str:
    """``text`` without its first ``count`` words (and the punctuation around them)."""
    matches = list(re.finditer(r"\w+", text))
    end = matches[count - 1].end()
    rest = text[end:].lstrip(' .!?…»"”)\u00a0')
    return rest


def _absolute(url: str) -> str:
    url = url.strip()
    return "https:" + url if url.startswith("//") else url
