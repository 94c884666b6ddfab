"""Preflight: what can be checked offline on a rendered issue before anyone receives it.

Each check gives findings with a severity; an error keeps the issue from being marked
ready (``digest build`` refuses to save it), a warning is shown and left to the editor.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from html.parser import HTMLParser
from urllib.parse import urlsplit

from digest.models import RenderedIssue
from digest.rendering import SLOT_PATTERN, SLOT_UNSUBSCRIBE_URL, TEXT_WIDTH

GMAIL_CLIP_BYTES = 102 * 1024  # Gmail hides everything past about 102 KB, footer included
DEFAULT_BUDGET_BYTES = 90 * 1024
SUBJECT_CHARS = 78  # longer subjects are cut on phones and by most desktop clients
PREHEADER_CHARS = (30, 150)  # shorter lets the body leak into the preview; longer is cut
_LONE_URL = re.compile(r"\s*\S+://\S+\s*")


class Severity(StrEnum):
    """How much a finding matters: an error blocks the issue, a warning informs."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing preflight found, with the check that found it."""

    severity: Severity
    check: str
    message: str

    def __str__(self) -> str:
        return f"{self.severity.value}: {self.check}: {self.message}"


class _Parts(HTMLParser):
    """The links and images of an HTML document."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.images: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "a":
            self.links.append(values.get("href") or "")
        elif tag == "img":
            self.images.append(values)


def check_issue(
    rendered: RenderedIssue, *, budget_bytes: int = DEFAULT_BUDGET_BYTES
) -> tuple[Finding, ...]:
    """Every finding on ``rendered``, errors first."""
    parts = _Parts()
    parts.feed(rendered.html)
    parts.close()
    findings = [
        *_size(rendered.html, budget_bytes),
        *_images(parts.images),
        *_links(parts.links),
        *_text_part(rendered.text, parts.links),
        *_unsubscribe(rendered),
        *_subject_and_preheader(rendered),
    ]
    return tuple(sorted(findings, key=lambda f: f.severity is not Severity.ERROR))


def has_errors(findings: tuple[Finding, ...]) -> bool:
    """True when a finding keeps the issue from being sent."""
    return any(finding.severity is Severity.ERROR for finding in findings)


def _size(html: str, budget: int) -> Iterator[Finding]:
    size = len(html.encode("utf-8"))
    kib = f"{size / 1024:.1f} KiB"
    if size > GMAIL_CLIP_BYTES:
        yield Finding(
            Severity.ERROR,
            "size",
            f"the HTML part is {kib}: Gmail clips past 102 KiB and hides the unsubscribe link; "
            "lower composition.max_articles",
        )
    elif size > budget:
        yield Finding(
            Severity.WARNING,
            "size",
            f"the HTML part is {kib}, over the {budget // 1024} KiB budget",
        )


def _images(images: list[dict[str, str | None]]) -> Iterator[Finding]:
    for image in images:
        src = image.get("src") or "(no src)"
        if image.get("alt") is None:
            yield Finding(
                Severity.ERROR, "alt", f"image {src} has no alt text (shown when images are off)"
            )
        if not src.startswith("https://"):
            yield Finding(Severity.WARNING, "image", f"image {src} is not loaded over https")


def _links(links: list[str]) -> Iterator[Finding]:
    for href in dict.fromkeys(links):
        problem = link_problem(href)
        if problem is not None:
            yield Finding(*problem)


def link_problem(href: str) -> tuple[Severity, str, str] | None:
    """What is wrong with a link of the issue, if anything."""
    if SLOT_PATTERN.fullmatch(href):
        return None  # filled per subscriber with an https link
    shown = href or '""'
    parts = urlsplit(href.strip())
    if not href.strip() or href.strip() == "#" or any(c.isspace() for c in href):
        return Severity.ERROR, "link", f"link {shown} is empty or holds spaces"
    if parts.scheme == "mailto":
        return (
            None if "@" in parts.path else (Severity.ERROR, "link", f"link {shown} has no address")
        )
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return Severity.ERROR, "link", f"link {shown} is not an absolute web address"
    if parts.scheme == "http":
        return Severity.WARNING, "link", f"link {shown} is not https"
    if "." not in (parts.hostname or ""):
        return Severity.WARNING, "link", f"link {shown} looks broken (no domain)"
    return None


def _text_part(text: str, html_links: list[str]) -> Iterator[Finding]:
    if not text.strip():
        yield Finding(Severity.ERROR, "text", "the plain-text part is missing or empty")
        return
    long_lines = [
        number
        for number, line in enumerate(text.splitlines(), 1)
        if len(line) > TEXT_WIDTH and not _LONE_URL.fullmatch(line)
    ]
    if long_lines:
        yield Finding(
            Severity.WARNING,
            "text",
            f"{len(long_lines)} lines of the text part are over {TEXT_WIDTH} columns "
            f"(first: line {long_lines[0]})",
        )
    missing = [
        href
        for href in dict.fromkeys(html_links)
        if href.startswith("https://") and href not in text
    ]
    if missing:
        yield Finding(
            Severity.WARNING,
            "text",
            f"{len(missing)} links of the HTML are not in the text part (first: {missing[0]})",
        )


def _unsubscribe(rendered: RenderedIssue) -> Iterator[Finding]:
    for label, body in (("HTML", rendered.html), ("text", rendered.text)):
        if SLOT_UNSUBSCRIBE_URL not in body:
            yield Finding(
                Severity.ERROR, "unsubscribe", f"the {label} part has no unsubscribe link"
            )


def _subject_and_preheader(rendered: RenderedIssue) -> Iterator[Finding]:
    subject, preheader = rendered.subject.strip(), rendered.preheader.strip()
    if not subject:
        yield Finding(Severity.ERROR, "subject", "the subject is empty")
    elif len(subject) > SUBJECT_CHARS:
        yield Finding(
            Severity.WARNING,
            "subject",
            f"the subject is {len(subject)} characters; phones show about 40 to 60 and most "
            f"clients cut past {SUBJECT_CHARS}: shorten composition.subject_template",
        )
    low, high = PREHEADER_CHARS
    if not low <= len(preheader) <= high:
        yield Finding(
            Severity.WARNING,
            "preheader",
            f"the preheader is {len(preheader)} characters; between {low} and {high} reads best",
        )
