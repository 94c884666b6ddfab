"""The week's stories -> an Issue: featured story, sections, briefs, subject and preheader.

Pure functions, except ``load_editor_note`` which reads the editor's Markdown file.
"""

from __future__ import annotations

import datetime as dt
import html
import re
import string
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from babel.dates import format_date
from markdown import Markdown
from markdown.extensions import Extension
from markdown.treeprocessors import Treeprocessor
from markdown.util import AMP_SUBSTITUTE

from digest.config import CompositionSettings, NewsletterSettings
from digest.errors import CompositionError
from digest.french import reading_minutes, typography
from digest.models import Article, EditorNote, IsoWeek, Issue, Section, Story, Summary

OTHER_SECTION = "Autres"
CARDS_PER_SECTION = 4  # stories past this in a section are listed "En bref"
PREHEADER_CHARS = 90  # what mail clients show after the subject before cutting
SUBJECT_FIELDS = frozenset({"newsletter", "number", "featured", "week"})
_ORDINARY_SPACE = re.compile(r"[ \t\r\n\f\v]+")


def compose_issue(
    stories: Sequence[Story],
    *,
    newsletter: NewsletterSettings,
    composition: CompositionSettings,
    week: IsoWeek,
    number: int,
    issue_date: dt.date,
    editor_note: EditorNote | None,
) -> Issue:
    """Arrange the week's stories into an issue; CompositionError when there are none."""
    if not stories:
        raise CompositionError(
            f"no article in week {week} for {newsletter.name}: check the sources"
        )
    ranked = sorted((_typeset(story) for story in stories), key=rank_key)
    featured = _featured(ranked, composition.featured_url, week)
    rest = [story for story in ranked if story is not featured]
    sections, briefs = _arrange(rest[: composition.max_articles - 1], composition.sections)
    introduction = ""
    if editor_note is None and composition.introduction == "generated":
        introduction = _introduction(featured, sections, len(briefs))
    return Issue(
        newsletter=newsletter.name,
        week=week,
        number=number,
        date=issue_date,
        subject=_subject(composition.subject_template, newsletter.name, number, featured, week),
        preheader=_preheader(featured, sections),
        featured=featured,
        sections=sections,
        briefs=briefs,
        editor_note=editor_note,
        introduction=introduction,
    )


def demote_last_card(issue: Issue) -> Issue | None:
    """The issue with the last card of its fullest section moved to "En bref"; None if none."""
    if not issue.sections:
        return None
    # The fullest section gives up a card, the later one on a tie: each keeps its best.
    index = max(range(len(issue.sections)), key=lambda i: (len(issue.sections[i].stories), i))
    section = issue.sections[index]
    kept = replace(section, stories=section.stories[:-1])
    sections = (
        issue.sections[:index] + ((kept,) if kept.stories else ()) + issue.sections[index + 1 :]
    )
    return replace(issue, sections=sections, briefs=(section.stories[-1], *issue.briefs))


def rank_key(story: Story) -> tuple[bool, int, float, str]:
    """Sort key, best first: an image, then more words, then more recent, then by URL."""
    article = story.article
    return (not article.image_url, -article.word_count, -article.published.timestamp(), article.url)


def make_story(article: Article, summary: Summary) -> Story:
    """The story of ``article`` with its summary and reading time."""
    return Story(
        article=article, summary=summary, reading_minutes=reading_minutes(article.word_count)
    )


def french_date(day: dt.date) -> str:
    """The date as a French reader writes it: ``vendredi 24 janvier 2025``, ``1er`` for 1."""
    # French writes the first day of a month as an ordinal ("samedi 1er mars 2025").
    pattern = "EEEE '1er' MMMM y" if day.day == 1 else "EEEE d MMMM y"
    return format_date(day, format=pattern, locale="fr_FR")


def _typeset(story: Story) -> Story:
    """The story with French typography on everything a reader sees of it."""
    article = replace(
        story.article,
        title=typography(story.article.title),
        standfirst=typography(story.article.standfirst),
        section=typography(story.article.section),
        author=typography(story.article.author),
        source=typography(story.article.source),
    )
    summary = replace(story.summary, text=typography(story.summary.text))
    return replace(story, article=article, summary=summary)


def _featured(ranked: list[Story], pinned_url: str, week: IsoWeek) -> Story:
    """The pinned story when a URL is set, else the best ranked."""
    if not pinned_url:
        return ranked[0]
    wanted = pinned_url.rstrip("/")
    for story in ranked:
        if story.article.url.rstrip("/") == wanted:
            return story
    raise CompositionError(
        f"composition.featured_url {pinned_url} is not among the {len(ranked)} articles "
        f"of week {week}: fix it or leave it empty"
    )


def _arrange(
    stories: Sequence[Story], names: Sequence[str]
) -> tuple[tuple[Section, ...], tuple[Story, ...]]:
    """Sections in the configured order, "Autres" last; overflow of each goes to briefs."""
    other = _key(OTHER_SECTION)
    display: dict[str, str] = {}
    for name in names or _sections_found(stories):
        if _key(name) != other:
            display.setdefault(_key(name), _squeeze(name))
    display[other] = OTHER_SECTION
    groups: dict[str, list[Story]] = {key: [] for key in display}
    for story in stories:
        key = _key(story.article.section)
        groups[key if key in display else other].append(story)
    sections: list[Section] = []
    briefs: list[Story] = []
    for key, group in groups.items():
        if group:
            sections.append(Section(typography(display[key]), tuple(group[:CARDS_PER_SECTION])))
            briefs.extend(group[CARDS_PER_SECTION:])
    return tuple(sections), tuple(briefs)


def _sections_found(stories: Sequence[Story]) -> list[str]:
    """Without configured sections, the articles' own, in the order of their best story."""
    return [story.article.section for story in stories if story.article.section.strip()]


def _key(name: str) -> str:
    return _squeeze(name.casefold())


def _squeeze(text: str) -> str:
    """Collapse runs of ordinary whitespace; no-break spaces are typography and stay."""
    return _ORDINARY_SPACE.sub(" ", text).strip(" ")


def _subject(template: str, newsletter: str, number: int, featured: Story, week: IsoWeek) -> str:
    """The subject line from ``composition.subject_template``."""
    values = {
        "newsletter": newsletter,
        "number": number,
        "featured": featured.article.title,
        "week": str(week),
    }
    try:
        fields = {
            field for _, field, _, _ in string.Formatter().parse(template) if field is not None
        }
        unknown = sorted(fields - SUBJECT_FIELDS)
        if unknown:
            raise KeyError(unknown[0])
        subject = template.format(**values)
    except KeyError as exc:
        known = ", ".join("{" + name + "}" for name in sorted(SUBJECT_FIELDS))
        raise CompositionError(
            f"composition.subject_template {template!r}: unknown field {{{exc.args[0]}}}; "
            f"use {known}"
        ) from exc
    except ValueError as exc:
        raise CompositionError(f"composition.subject_template {template!r}: {exc}") from exc
    return typography(_squeeze(subject))


def _introduction(featured: Story, sections: Sequence[Section], briefs: int) -> str:
    """One or two sentences naming the week's main subjects, for an issue without a note."""
    leads = [section.stories[0].article.title for section in sections[:2]]
    text = _sentence(f"Cette semaine, à la une : {featured.article.title}")
    if leads:
        more = f", et {briefs} autres articles en bref" if briefs > 1 else ""
        text += " " + _sentence(f"Au sommaire aussi : {_join_fr(leads)}{more}")
    return typography(text)


def _sentence(text: str) -> str:
    """``text`` ending with a full stop, unless it ends with its own ? ! or …"""
    text = text.rstrip(" .")
    return text if text.endswith(("?", "!", "…")) else text + "."


def _join_fr(items: Sequence[str]) -> str:
    """``a, b et c``: a French enumeration."""
    cleaned = [item.rstrip(" .") for item in items]
    if len(cleaned) < 2:
        return "".join(cleaned)
    return ", ".join(cleaned[:-1]) + " et " + cleaned[-1]


def _preheader(featured: Story, sections: Sequence[Section]) -> str:
    """The start of the featured summary, else the leading story of each section."""
    text = featured.summary.text.strip()
    if not text:
        text = ", ".join(section.stories[0].article.title for section in sections)
    return clip(typography(text), PREHEADER_CHARS)


def clip(text: str, limit: int) -> str:
    """``text`` within ``limit`` characters, cut at a word boundary and ending with "…"."""
    text = _squeeze(text)
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    if not text[limit - 1].isspace() and " " in head:
        head = head.rsplit(" ", 1)[0]
    return head.rstrip(",;:—–-«( \u00a0\u202f") + "…"


# --- The editor's note -----------------------------------------------------------------

_SAFE_LINK = re.compile(r"^(?:https?:|mailto:|#)", re.IGNORECASE)


_URL_NOISE = re.compile(r"[\x00-\x20\x7f]+")  # browsers ignore these inside a scheme


class _SafeLinks(Treeprocessor):
    """Drops link and image targets that are not web, mail or in-page addresses."""

    def run(self, root: ET.Element) -> None:
        for element in root.iter():
            for attribute in ("href", "src"):
                value = element.get(attribute)
                if value is not None and not _is_safe_target(value):
                    del element.attrib[attribute]


def _is_safe_target(value: str) -> bool:
    # Decoded as a browser would: "javascript&#58;" and "java\tscript:" are javascript:.
    target = html.unescape(value.replace(AMP_SUBSTITUTE, "&"))
    return _SAFE_LINK.match(_URL_NOISE.sub("", target)) is not None


class _SubHeadings(Treeprocessor):
    """Headings of the note start at h3: the letter's h1 is its name, h2 the note's label."""

    def run(self, root: ET.Element) -> None:
        for element in root.iter():
            if re.fullmatch(r"h[1-6]", element.tag):
                element.tag = f"h{min(6, int(element.tag[1]) + 2)}"


class _NoRawHtml(Extension):
    """Raw HTML in the source is shown as text, so a note cannot inject markup."""

    def extendMarkdown(self, md: Markdown) -> None:
        md.preprocessors.deregister("html_block")
        md.inlinePatterns.deregister("html")
        # After the inline processor (priority 20) has made the links.
        md.treeprocessors.register(_SafeLinks(md), "safe_links", 5)
        md.treeprocessors.register(_SubHeadings(md), "sub_headings", 4)


def _link_text(match: re.Match[str]) -> str:
    label, target = match.group(1), match.group(2)
    return f"{label} ({target})" if _is_safe_target(target) else label


_MARKDOWN_SYNTAX: tuple[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]], ...] = (
    (re.compile(r"!\[([^\]]*)\]\([^)]*\)"), r"\1"),
    (
        # A target may hold one level of parentheses, as in "https://fr.wikipedia.org/a_(b)".
        re.compile(r"\[([^\]]+)\]\(\s*<?((?:[^()\s<>]|\([^()\s]*\))+)>?(?:\s+\"[^\"]*\")?\s*\)"),
        _link_text,
    ),
    (re.compile(r"<((?:https?://|mailto:)[^>\s]+|[^@\s<>]+@[^@\s<>]+)>"), r"\1"),
    (re.compile(r"^ {0,3}#{1,6}[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$", re.MULTILINE), r"\1"),
    (re.compile(r"^ {0,3}(?:[-*_] *){3,}$", re.MULTILINE), ""),
    (re.compile(r"^ {0,3}> ?", re.MULTILINE), ""),
    (re.compile(r"^( *)[*+] +", re.MULTILINE), r"\1- "),
    (re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1"), r"\2"),
    (re.compile(r"(?<![\w*])\*(?=\S)(.+?)(?<=\S)\*(?!\w)"), r"\1"),
    (re.compile(r"(?<![\w_])_(?=\S)(.+?)(?<=\S)_(?![\w_])"), r"\1"),
    (re.compile(r"`([^`]*)`"), r"\1"),
    (re.compile(r"\\([\\`*_{}\[\]()#+\-.!>])"), r"\1"),
    (re.compile(r"\n{3,}"), "\n\n"),
)


def load_editor_note(
    pattern: str, week: IsoWeek, signature: str, *, role: str = "", photo_url: str = ""
) -> EditorNote | None:
    """Read the week's Markdown note (``{week}`` in the path); None when there is none."""
    if not pattern.strip():
        return None
    path = Path(pattern.replace("{week}", str(week)))
    try:
        source = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        return None
    except UnicodeDecodeError as exc:
        raise CompositionError(
            f"editor's note {path} is not UTF-8 (byte {exc.start}): save it as UTF-8"
        ) from exc
    except OSError as exc:
        raise CompositionError(f"cannot read editor's note {path}: {exc.strerror or exc}") from exc
    if not source.strip():
        return None
    return EditorNote(
        html=typography(render_markdown(source)),
        text=typography(strip_markdown(source)),
        signature=typography(signature.strip()),
        role=typography(role.strip()),
        photo_url=photo_url.strip(),
    )


def render_markdown(source: str) -> str:
    """Markdown to HTML, with raw HTML escaped and unsafe link targets dropped."""
    return Markdown(extensions=[_NoRawHtml()], output_format="html").convert(source)


def strip_markdown(source: str) -> str:
    """The Markdown as plain text: emphasis, headings and link syntax removed."""
    text = source.replace("\r\n", "\n")
    for pattern, replacement in _MARKDOWN_SYNTAX:
        text = pattern.sub(replacement, text)
    return "\n\n".join(_reflow(block) for block in text.strip().split("\n\n"))


_LIST_ITEM = re.compile(r"^\s*(?:- |\d+[.)] )")


def _reflow(paragraph: str) -> str:
    """Join a paragraph's hard-wrapped lines, as Markdown does; list items stay lines."""
    lines: list[str] = []
    for line in paragraph.split("\n"):
        if lines and line.strip() and not _LIST_ITEM.match(line):
            lines[-1] = f"{lines[-1].rstrip()} {line.strip()}"
        else:
            lines.append(line)
    return "\n".join(lines)
