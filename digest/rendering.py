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
from babel.dates import format_date

from digest.composition import demote_last_card
from digest.config import NewsletterSettings, SocialLink, TemplateSettings
from digest.errors import RenderError
from digest.french import typography
from digest.models import Issue, PersonalSlots, RenderedIssue, Story
from digest.web_version import web_page

SLOT_UNSUBSCRIBE_URL = "%%DIGEST_UNSUBSCRIBE_URL%%"
SLOT_UNSUBSCRIBE_MAILTO = "%%DIGEST_UNSUBSCRIBE_MAILTO%%"
SLOT_NAME = "%%DIGEST_NAME%%"
SLOT_GREETING = "%%DIGEST_GREETING%%"
# The whole preferences link, or nothing for a copy without one (the public web version).
SLOT_PREFERENCES_LINK = "%%DIGEST_PREFERENCES_LINK%%"
SLOT_PATTERN = re.compile(r"%%DIGEST_[A-Z_]+%%")

TEXT_WIDTH = 78  # RFC 5322 section 2.1.1: lines SHOULD be no more than 78 characters
HTML_TEMPLATE = "issue.mjml.j2"
TEXT_TEMPLATE = "issue.txt.j2"

_COLOR_SCHEME = (
    '<meta name="color-scheme" content="light dark">'
    '<meta name="supported-color-schemes" content="light dark">'
)
# C0 controls other than tab and newline have no place in text meant for people.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_BULLET = re.compile(r"^(\s*)([*•-] )?")
# A space a line could break at, before a sign that must not start a line.
_ORPHAN_BREAK = re.compile(r"(?<=\S) +(?=[;:!?»…)](?:\s|$))")


@dataclass(frozen=True, slots=True)
class SlotMarkers:
    """The markers templates write where a subscriber's own value goes."""

    unsubscribe_url: str = SLOT_UNSUBSCRIBE_URL
    unsubscribe_mailto: str = SLOT_UNSUBSCRIBE_MAILTO
    name: str = SLOT_NAME
    greeting: str = SLOT_GREETING
    preferences_link: str = SLOT_PREFERENCES_LINK


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
    # Applied by clients that honour prefers-color-scheme (Apple Mail, Outlook for Mac).
    dark_page: str = "#121212"
    dark_paper: str = "#1e1e1e"
    dark_text: str = "#ececec"
    dark_accent: str = "#ff8a80"


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
        values = {marker: html_lib.escape(value, quote=True) for marker, value in values.items()}
    values[SLOT_PREFERENCES_LINK] = _preferences_link(slots.preferences_url, html=html)
    return values


def _preferences_link(url: str, *, html: bool) -> str:
    if not url:
        return ""
    if not html:
        return f"\nGérer mes préférences\u202f:\n{url}\n"
    href = html_lib.escape(url, quote=True)
    return (
        f'<a href="{href}" style="color:inherit;text-decoration:underline;">'
        "Gérer mes préférences</a> · "
    )


def public_slots(newsletter: NewsletterSettings) -> PersonalSlots:
    """Slots of the copy anyone may see (web archive, build files): generic links, no name."""
    return PersonalSlots(
        unsubscribe_url=f"{newsletter.web_base_url}/desinscription",
        unsubscribe_mailto=f"mailto:{newsletter.unsubscribe_mailto}",
    )


KEY_POINT = "• "


def key_points(summary: str) -> list[str]:
    """The points of a "key points" summary (every line a bullet), else an empty list."""
    lines = [line.strip() for line in summary.splitlines() if line.strip()]
    if not lines or not all(line.startswith(KEY_POINT) for line in lines):
        return []
    return [line.removeprefix(KEY_POINT).strip() for line in lines]


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
        line = _ORPHAN_BREAK.sub("\u202f", line)
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


@dataclass(frozen=True, slots=True)
class Rendering:
    """A rendered issue, the issue as finally arranged, and how many cards became briefs."""

    rendered: RenderedIssue
    issue: Issue
    demoted: int = 0


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
            is_web_url=is_web_url,
            key_points=key_points,
        )
        self._web_slots = public_slots(newsletter)

    def render(self, issue: Issue, *, date_label: str) -> RenderedIssue:
        """Render ``issue`` to HTML and text with the personal slots still open."""
        clean = scrub_issue(issue)
        context = {
            "issue": clean,
            "newsletter": _typeset_newsletter(self._newsletter),
            "social_links": tuple(
                SocialLink(name=typography(link.name), url=link.url)
                for link in self._newsletter.social_links
            ),
            "date_label": _clean_text(date_label),
            "web_url": f"{self._newsletter.web_base_url}/archives/{clean.week}",
            "slots": SlotMarkers(),
            "theme": self._theme,
        }
        # Typography once more over the whole output: template literals and anything a
        # user template adds get the same French spacing as the articles.
        html = _compile_mjml(typography(self._render_template(HTML_TEMPLATE, context)))
        text = _tidy_text(typography(self._render_template(TEXT_TEMPLATE, context)))
        web = web_page(fill_slots(html, self._web_slots, html=True), clean.subject)
        return RenderedIssue(
            subject=clean.subject, preheader=clean.preheader, html=html, text=text, web_html=web
        )

    def render_within(self, issue: Issue, *, date_label: str, budget_bytes: int) -> Rendering:
        """Render ``issue``, turning its last cards into briefs until the HTML fits the budget."""
        rendered = self.render(issue, date_label=date_label)
        demoted = 0
        while len(rendered.html.encode("utf-8")) > budget_bytes:
            smaller = demote_last_card(issue)
            if smaller is None:
                break
            issue, demoted = smaller, demoted + 1
            rendered = self.render(issue, date_label=date_label)
        return Rendering(rendered, issue, demoted)

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
        # French writes the first of a month as an ordinal: "1er mars".
        pattern = "'1er' MMMM" if value.day == 1 else "d MMMM"
        return format_date(value, format=pattern, locale="fr_FR")

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


def is_web_url(url: str) -> bool:
    """True for an absolute https URL without spaces: what an email may load or link."""
    parts = urlsplit(url.strip())
    return parts.scheme == "https" and bool(parts.netloc) and not any(c.isspace() for c in url)


def _typeset_newsletter(newsletter: NewsletterSettings) -> NewsletterSettings:
    """The settings with French typography on the names and address a reader sees."""
    shown = ("name", "publisher", "publisher_address")
    return newsletter.model_copy(
        update={field: typography(getattr(newsletter, field)) for field in shown}
    )


def _reading_time(story: Story) -> str:
    return f"{max(1, story.reading_minutes)} min de lecture"


def _compile_mjml(source: str) -> str:
    try:
        # No font map: the theme uses web-safe stacks, so nothing is fetched from Google.
        html: str = mjml.mjml2html(source, disable_comments=True, fonts={})
    except Exception as exc:
        raise RenderError(f"MJML could not compile {HTML_TEMPLATE}: {exc}") from exc
    # MJML has no way to write head meta tags; these say the dark palette is ours.
    return html.replace("<head>", "<head>" + _COLOR_SCHEME, 1)


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
