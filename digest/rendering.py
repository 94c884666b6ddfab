"""Issue -> RenderedIssue: Jinja2 -> MJML -> HTML, and a plain-text part, once per issue.

What differs between subscribers is left as slot markers (``%%DIGEST_...%%``) that
:func:`fill_slots` replaces per subscriber, so MJML never runs more than once an issue.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import html as html_lib
import re
import textwrap
import traceback
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jinja2
import mjml

from digest.config import NewsletterSettings, TemplateSettings
from digest.errors import RenderError
from digest.models import Issue, PersonalSlots, RenderedIssue, Story

SLOT_UNSUBSCRIBE_URL = "%%DIGEST_UNSUBSCRIBE_URL%%"
SLOT_UNSUBSCRIBE_MAILTO = "%%DIGEST_UNSUBSCRIBE_MAILTO%%"
SLOT_NAME = "%%DIGEST_NAME%%"
SLOT_GREETING = "%%DIGEST_GREETING%%"
SLOT_PATTERN = re.compile(r"%%DIGEST_[A-Z_]+%%")

TEXT_WIDTH = 78  # RFC 5322 section 2.1.1: lines SHOULD be no more than 78 characters
HTML_TEMPLATE = "issue.mjml.j2"
TEXT_TEMPLATE = "issue.txt.j2"

_MONTHS = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)
# C0 controls other than tab and newline have no place in text meant for people.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_BULLET = re.compile(r"^(\s*)([*•-] )?")


@dataclass(frozen=True, slots=True)
class SlotMarkers:
    """The markers templates write where a subscriber's own value goes."""

    unsubscribe_url: str = SLOT_UNSUBSCRIBE_URL
    unsubscribe_mailto: str = SLOT_UNSUBSCRIBE_MAILTO
    name: str = SLOT_NAME
    greeting: str = SLOT_GREETING


@dataclass(frozen=True, slots=True)
class Theme:
    """Colours and font stacks handed to templates; web-safe fonts only, no web fonts."""

    accent: str
    text: str = "#1a1a1a"
    muted: str = "#595959"
    page: str = "#f4f1ea"
    paper: str = "#ffffff"
    rule: str = "#e4dfd5"
    serif: str = "Georgia, Times New Roman, Times, serif"
    sans: str = "Helvetica, Arial, sans-serif"


def bundled_templates_dir() -> Path:
    """The templates shipped with digest: inside the wheel, else the source checkout."""
    package = Path(__file__).resolve().parent
    installed = package / "_bundled" / "templates" / "email"
    if installed.is_dir():
        return installed
    return package.parent / "templates" / "email"


def slot_values(slots: PersonalSlots, *, html: bool) -> dict[str, str]:
    """Each slot marker and the value it stands for, HTML-escaped when ``html``."""
    name = _clean_text(slots.name)
    values = {
        SLOT_UNSUBSCRIBE_URL: slots.unsubscribe_url,
        SLOT_UNSUBSCRIBE_MAILTO: slots.unsubscribe_mailto,
        SLOT_NAME: name,
        SLOT_GREETING: f"Bonjour {name}," if name else "Bonjour,",
    }
    if html:
        return {marker: html_lib.escape(value, quote=True) for marker, value in values.items()}
    return values


def public_slots(newsletter: NewsletterSettings) -> PersonalSlots:
    """Slots of the copy anyone may see (web archive, build files): generic links, no name."""
    return PersonalSlots(
        unsubscribe_url=f"{newsletter.web_base_url}/desinscription",
        unsubscribe_mailto=f"mailto:{newsletter.unsubscribe_mailto}",
    )


def attribute_text(value: str) -> str:
    """Text for an HTML attribute (alt, title): no-break spaces made plain.

    The MJML compiler writes U+00A0 and U+202F inside attribute values as ``\\u{a0}``
    escapes instead of characters; typography there is worth nothing to a reader anyway.
    """
    return value.replace("\u00a0", " ").replace("\u202f", " ")


def fill_slots(body: str, slots: PersonalSlots, *, html: bool) -> str:
    """Replace every slot marker of ``body`` with this subscriber's value."""
    values = slot_values(slots, html=html)
    # One pass: a value that happens to contain a marker is never expanded again.
    return SLOT_PATTERN.sub(lambda match: values.get(match.group(0), ""), body)


def wrap_text(text: str, width: int = TEXT_WIDTH) -> str:
    """Wrap each long line at ``width``, keeping list indents; URLs are never broken."""
    lines: list[str] = []
    for line in text.split("\n"):
        if len(line) <= width:
            lines.append(line)
            continue
        match = _BULLET.match(line)
        indent = match.group(1) if match else ""
        hanging = indent + " " * len(match.group(2) or "") if match else ""
        lines.extend(
            textwrap.wrap(
                line.strip(),
                width=width,
                initial_indent=indent,
                subsequent_indent=hanging,
                break_long_words=False,
                break_on_hyphens=False,
            )
        )
    return "\n".join(lines)


def scrub_issue(issue: Issue) -> Issue:
    """The issue with slot markers and control characters removed from every string."""
    scrubbed: Issue = _scrub(issue)
    return scrubbed


class Renderer:
    """Renders issues with one Jinja2 environment: user templates first, then bundled ones."""

    def __init__(self, templates: TemplateSettings, newsletter: NewsletterSettings) -> None:
        self._newsletter = newsletter
        self._theme = Theme(accent=newsletter.accent_color)
        search = [bundled_templates_dir()]
        if templates.folder is not None:
            search.insert(0, Path(templates.folder))
        self._env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(search),
            undefined=jinja2.StrictUndefined,
            autoescape=jinja2.select_autoescape(
                enabled_extensions=("mjml.j2", "html.j2"),
                disabled_extensions=("txt.j2",),
                default_for_string=True,
                default=True,
            ),
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
            auto_reload=False,
        )
        self._env.filters.update(
            date_fr=self._date_fr,
            safe_url=self._safe_url,
            story_meta=self._story_meta,
            reading_time=_reading_time,
            attribute_text=attribute_text,
        )
        self._web_slots = public_slots(newsletter)

    def render(self, issue: Issue, *, date_label: str) -> RenderedIssue:
        """Render ``issue`` to HTML and text with the personal slots still open."""
        clean = scrub_issue(issue)
        context = {
            "issue": clean,
            "newsletter": self._newsletter,
            "date_label": _clean_text(date_label),
            "web_url": f"{self._newsletter.web_base_url}/archives/{clean.week}",
            "slots": SlotMarkers(),
            "theme": self._theme,
        }
        html = _compile_mjml(self._render_template(HTML_TEMPLATE, context))
        text = _tidy_text(self._render_template(TEXT_TEMPLATE, context))
        return RenderedIssue(
            subject=clean.subject,
            preheader=clean.preheader,
            html=html,
            text=text,
            web_html=fill_slots(html, self._web_slots, html=True),
        )

    def _render_template(self, name: str, context: dict[str, Any]) -> str:
        try:
            return self._env.get_template(name).render(context)
        except jinja2.TemplateSyntaxError as exc:
            where = exc.filename or exc.name or name
            raise RenderError(f"template {where}, line {exc.lineno}: {exc.message}") from exc
        except jinja2.TemplateNotFound as exc:
            where = _template_location(exc, name)
            missing = f"template {exc.name} not found in {self._search_path()}"
            raise RenderError(f"{where}: {missing}") from exc
        # User templates are user input: whatever they raise is reported at its line.
        except Exception as exc:
            raise RenderError(f"{_template_location(exc, name)}: {exc}") from exc

    def _search_path(self) -> str:
        loader = self._env.loader
        paths = loader.searchpath if isinstance(loader, jinja2.FileSystemLoader) else []
        return ", ".join(str(path) for path in paths)

    def _date_fr(self, value: dt.date) -> str:
        if isinstance(value, dt.datetime):
            value = value.astimezone(self._newsletter.zone).date()
        day = "1er" if value.day == 1 else str(value.day)
        return f"{day} {_MONTHS[value.month - 1]}"

    def _safe_url(self, url: str) -> str:
        # Only web links in an email: a javascript: or data: URL from a feed becomes
        # the archive page instead of a live link.
        parts = urlsplit(url.strip())
        if parts.scheme in ("https", "http") and parts.netloc and not any(c.isspace() for c in url):
            return url.strip()
        return f"{self._newsletter.web_base_url}/archives"

    def _story_meta(self, story: Story) -> str:
        article = story.article
        parts = (article.author, self._date_fr(article.published), _reading_time(story))
        return " · ".join(part for part in parts if part)


def _reading_time(story: Story) -> str:
    return f"{max(1, story.reading_minutes)} min de lecture"


def _compile_mjml(source: str) -> str:
    try:
        # No font map: the theme uses web-safe stacks, so nothing is fetched from Google.
        html: str = mjml.mjml2html(source, disable_comments=True, fonts={})
    except Exception as exc:
        raise RenderError(f"MJML could not compile {HTML_TEMPLATE}: {exc}") from exc
    return html


def _template_location(exc: BaseException, fallback: str) -> str:
    """``template PATH, line N`` of the innermost template frame of ``exc``'s traceback."""
    # Jinja rewrites tracebacks so that template frames carry the template's own file
    # name and line number.
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.endswith(".j2")]
    if not frames:
        return f"template {fallback}"
    return f"template {frames[-1].filename}, line {frames[-1].lineno}"


def _tidy_text(text: str) -> str:
    lines = [line.rstrip() for line in text.split("\n")]
    tidy = re.sub(r"\n{4,}", "\n\n\n", "\n".join(lines)).strip("\n")
    return wrap_text(tidy) + "\n"


def _clean_text(value: str) -> str:
    value = unicodedata.normalize("NFC", value.replace("\r\n", "\n").replace("\r", "\n"))
    value = _CONTROL.sub("", value)
    # Loop: removing one marker may join the halves of another ("%%DIGEST_%%DIGEST_X%%X%%").
    while True:
        cleaned = SLOT_PATTERN.sub("", value)
        if cleaned == value:
            return cleaned
        value = cleaned


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return _clean_text(value)
    if isinstance(value, tuple):
        return tuple(_scrub(item) for item in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {f.name: _scrub(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return dataclasses.replace(value, **changes)
    return value
