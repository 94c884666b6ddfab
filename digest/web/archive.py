"""Past issues on the web: the sanitised web version and the Atom feed of issues."""

from __future__ import annotations

import re
from collections.abc import Sequence
from xml.sax.saxutils import escape, quoteattr

import nh3

from digest.config import NewsletterSettings
from digest.models import IssueEntry

_TAGS = {
    "a",
    "b",
    "br",
    "div",
    "em",
    "h1",
    "h2",
    "h3",
    "h4",
    "hr",
    "i",
    "img",
    "li",
    "ol",
    "p",
    "span",
    "strong",
    "table",
    "tbody",
    "td",
    "th",
    "thead",
    "tr",
    "ul",
    "center",
}
_COMMON = {
    "style",
    "class",
    "align",
    "valign",
    "width",
    "height",
    "role",
    "dir",
    "lang",
    "bgcolor",
    "border",
    "cellpadding",
    "cellspacing",
}
_ATTRIBUTES = {
    "*": _COMMON,
    "a": _COMMON | {"href", "title", "target"},
    "img": _COMMON | {"src", "alt"},
}
_STYLE_BLOCK = re.compile(r"<style[^>]*>(.*?)</style>", re.DOTALL | re.IGNORECASE)
_BODY = re.compile(r"<body[^>]*>(.*)</body>", re.DOTALL | re.IGNORECASE)
# Style text may not close its element or pull in remote resources.
_UNSAFE_CSS = re.compile(r"</|@import|url\(|expression\(", re.IGNORECASE)


def sanitized_issue_page(web_html: str, title: str) -> str:
    """The issue's web version as a page with no script, no event handler, no remote CSS."""
    body_match = _BODY.search(web_html)
    body = nh3.clean(
        body_match.group(1) if body_match else web_html,
        tags=_TAGS,
        clean_content_tags={"script", "style", "noscript", "template", "iframe", "object"},
        attributes=_ATTRIBUTES,
        url_schemes={"https", "mailto"},
        link_rel="noopener noreferrer",
    )
    styles = "\n".join(
        block for block in _STYLE_BLOCK.findall(web_html) if not _UNSAFE_CSS.search(block)
    )
    return (
        '<!doctype html><html lang="fr"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{styles}</style></head>"
        f'<body style="margin:0">{body}</body></html>'
    )


def atom_feed(newsletter: NewsletterSettings, entries: Sequence[IssueEntry]) -> str:
    """An Atom 1.0 feed of the issues, newest first (RFC 4287)."""
    base = newsletter.web_base_url
    updated = entries[0].built_at.isoformat() if entries else "1970-01-01T00:00:00+00:00"
    items = "".join(
        "<entry>"
        f"<title>{escape(entry.subject)}</title>"
        f"<link href={quoteattr(f'{base}/archives/{entry.week}')}/>"
        f"<id>{escape(f'{base}/archives/{entry.week}')}</id>"
        f"<updated>{entry.built_at.isoformat()}</updated>"
        f"<summary>{escape(newsletter.name)} n°{entry.number}</summary>"
        "</entry>"
        for entry in entries
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="fr">'
        f"<title>{escape(newsletter.name)}</title>"
        f"<link href={quoteattr(base + '/archives')}/>"
        f'<link rel="self" href={quoteattr(base + "/archives/feed.atom")}/>'
        f"<id>{escape(base)}/archives</id><updated>{updated}</updated>"
        f"<author><name>{escape(newsletter.publisher)}</name></author>"
        f"{items}</feed>"
    )
