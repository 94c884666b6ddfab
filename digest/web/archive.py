"""Past issues on the web: the sanitised web version and the Atom feed of issues."""

from __future__ import annotations

from collections.abc import Sequence
from xml.sax.saxutils import escape, quoteattr

from digest.config import NewsletterSettings
from digest.models import IssueEntry
from digest.web_version import web_page


def sanitized_issue_page(web_html: str, title: str) -> str:
    """The saved web version, sanitised again as it is served (older or altered rows too)."""
    return web_page(web_html, title)


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
