"""Saved pages: a text file a reader saved from a news site, with the site's labels left in.

The format::

    date 2025-01 Lecture Zen Résumer l'article      <- date, then the site's interface

    Standfirst (chapô): the first paragraph.

    Body paragraphs, blank-line separated.

    A short line without final punctuation          <- a subheading, its own paragraph

The first line gives the date (``YYYY-MM`` or ``YYYY-MM-DD``); the rest of that line is the
site's interface and never reaches the article. Title rule, first that applies:

1. a first paragraph that looks like a heading (short, no final punctuation) is the title;
2. else the file name, when it reads as a title: browsers name a saved page after the page's
   title ("La médiathèque ouvre le dimanche.txt"), so a name of at least three words
   separated by spaces, with lowercase letters and few digits, is taken as written (a site
   name after " | " is dropped); hyphenated slugs lost their accents and are not used;
3. else the first sentence of the standfirst, without its full stop, when it fits in
   110 characters; a longer sentence is cut at its last clause boundary (``,`` ``;`` ``:``
   ``–``) that fits, else at a word boundary with an ellipsis.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from digest.cleaning import clean_line, looks_like_heading, remove_noise, split_paragraphs
from digest.errors import ArticleError
from digest.sources.dates import Published, read_published

TITLE_MAX_CHARS = 110
_MIN_CLAUSE_CHARS = 30
_HEADER = re.compile(r"^\s*date\s+(\d{4}-\d{2}(?:-\d{2})?)(?:\s|$)", re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+(?=[«\"“A-ZÀ-ÖØ-ÝŒ])")
_CLAUSE_BREAK = re.compile(r"\s*(?:,|;|:|\s[–—])\s")


@dataclass(frozen=True, slots=True)
class SavedPage:
    """What a saved page holds, cleaned: no interface label left in any field."""

    title: str
    standfirst: str
    text: str
    published: Published


def parse_saved_page(text: str, *, name: str, tz: ZoneInfo) -> SavedPage:
    """Read a saved page; ``name`` is the file stem (see the title rule)."""
    lines = text.lstrip("\ufeff").splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    match = _HEADER.match(lines[first]) if first is not None else None
    if first is None or match is None:
        raise ArticleError("first line is not 'date YYYY-MM' (or 'date YYYY-MM-DD')")
    published = read_published(match.group(1), tz)
    paragraphs = remove_noise(split_paragraphs("\n".join(lines[first + 1 :])))
    title = ""
    if paragraphs and looks_like_heading(paragraphs[0]):
        title = paragraphs.pop(0)
    lead = next((i for i, p in enumerate(paragraphs) if not looks_like_heading(p)), None)
    standfirst = paragraphs.pop(lead) if lead is not None else ""
    if not standfirst and not paragraphs:
        raise ArticleError("no text after the date line")
    title = title or _title_from_name(name) or headline(standfirst)
    return SavedPage(title, standfirst, "\n\n".join(paragraphs), published)


def headline(text: str) -> str:
    """A title cut from the first sentence of ``text`` (see the module's title rule)."""
    sentence = _SENTENCE_END.split(text.strip(), maxsplit=1)[0].strip()
    if sentence.endswith(".") and not sentence.endswith(".."):
        sentence = sentence[:-1]
    if len(sentence) <= TITLE_MAX_CHARS:
        return sentence
    clauses = [
        sentence[: m.start()].rstrip()
        for m in _CLAUSE_BREAK.finditer(sentence)
        if _MIN_CLAUSE_CHARS <= m.start() <= TITLE_MAX_CHARS
    ]
    if clauses:
        return clauses[-1]
    cut = sentence[: TITLE_MAX_CHARS - 1].rsplit(" ", 1)[0]
    return cut.rstrip(",;:–— ") + "…"


def _title_from_name(name: str) -> str:
    title = clean_line(name.split(" | ")[0])
    digits = sum(char.isdigit() for char in title)
    readable = any(char.islower() for char in title) and digits * 4 <= len(title)
    return title if len(title.split()) >= 3 and readable else ""
