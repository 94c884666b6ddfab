"""Frozen values passed between the stages of the pipeline."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from enum import StrEnum
from zoneinfo import ZoneInfo

_ISO_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


@dataclass(frozen=True, slots=True)
class IsoWeek:
    """An ISO 8601 week (``2025-W04``) read in a timezone."""

    year: int
    week: int

    @classmethod
    def parse(cls, text: str) -> IsoWeek:
        """Parse ``YYYY-Www``; raise ValueError naming the expected form."""
        match = _ISO_WEEK.match(text.strip())
        if match is None:
            raise ValueError(f"week {text!r} is not of the form YYYY-Www, e.g. 2025-W04")
        year, week = int(match.group(1)), int(match.group(2))
        try:
            dt.date.fromisocalendar(year, week, 1)
        except ValueError as exc:
            raise ValueError(f"week {text!r} does not exist in {year}") from exc
        return cls(year, week)

    @classmethod
    def containing(cls, moment: dt.datetime, tz: ZoneInfo) -> IsoWeek:
        """The week that contains ``moment`` as seen in ``tz``."""
        year, week, _ = moment.astimezone(tz).isocalendar()
        return cls(year, week)

    def monday(self) -> dt.date:
        return dt.date.fromisocalendar(self.year, self.week, 1)

    def start(self, tz: ZoneInfo) -> dt.datetime:
        """Monday 00:00 local time, aware."""
        return dt.datetime.combine(self.monday(), dt.time(0), tzinfo=tz)

    def end(self, tz: ZoneInfo) -> dt.datetime:
        """The next Monday 00:00 local time (exclusive bound), aware."""
        return dt.datetime.combine(self.monday() + dt.timedelta(days=7), dt.time(0), tzinfo=tz)

    def __str__(self) -> str:
        return f"{self.year}-W{self.week:02d}"


@dataclass(frozen=True, slots=True)
class Article:
    """One published article, cleaned: no UI labels, no bylines, paragraphs split by blank lines."""

    url: str
    title: str
    text: str
    published: dt.datetime
    source: str
    standfirst: str = ""
    section: str = ""
    author: str = ""
    image_url: str = ""
    guid: str = ""

    @property
    def word_count(self) -> int:
        return len(self.standfirst.split()) + len(self.text.split())


@dataclass(frozen=True, slots=True)
class Summary:
    """A short French summary of one article and the method that wrote it."""

    text: str
    method: str


@dataclass(frozen=True, slots=True)
class Story:
    """An article with its summary, as the issue shows it."""

    article: Article
    summary: Summary
    reading_minutes: int


@dataclass(frozen=True, slots=True)
class Section:
    """A named group of stories, in the configured order."""

    name: str
    stories: tuple[Story, ...]


@dataclass(frozen=True, slots=True)
class EditorNote:
    """The editor's note of the week: Markdown rendered to safe HTML, plus plain text."""

    html: str
    text: str
    signature: str = ""
    role: str = ""
    photo_url: str = ""


@dataclass(frozen=True, slots=True)
class Issue:
    """One composed issue of the newsletter, before rendering."""

    newsletter: str
    week: IsoWeek
    number: int
    date: dt.date
    subject: str
    preheader: str
    featured: Story | None
    sections: tuple[Section, ...]
    briefs: tuple[Story, ...] = ()
    editor_note: EditorNote | None = None
    # A short generated opening naming the week's main subjects, when there is no note.
    introduction: str = ""

    @property
    def stories(self) -> tuple[Story, ...]:
        """Every story of the issue, featured first, in reading order."""
        head = (self.featured,) if self.featured is not None else ()
        body = tuple(story for section in self.sections for story in section.stories)
        return head + body + self.briefs


@dataclass(frozen=True, slots=True)
class RenderedIssue:
    """HTML and text of an issue, rendered once; personal slots still open (see rendering)."""

    subject: str
    preheader: str
    html: str
    text: str
    web_html: str


@dataclass(frozen=True, slots=True)
class Subscriber:
    """A person on the list."""

    email: str
    name: str = ""
    id: int | None = None


@dataclass(frozen=True, slots=True)
class PersonalSlots:
    """What differs from one subscriber's copy to the next."""

    unsubscribe_url: str
    unsubscribe_mailto: str
    name: str = ""
    # Empty: the footer's preferences link leads to the unsubscribe page instead.
    preferences_url: str = ""


@dataclass(frozen=True, slots=True)
class SourceReport:
    """What one source gave during a gather."""

    source: str
    items: int = 0
    kept: int = 0
    skipped: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    seconds: float = field(default=0.0, compare=False)


@dataclass(frozen=True, slots=True)
class GatherResult:
    """The week's articles and a report per source."""

    articles: tuple[Article, ...]
    reports: tuple[SourceReport, ...] = field(default_factory=tuple)
    # The week's editorial file pins this story as featured ("" when none is pinned).
    featured_url: str = ""
    # Selection notes for the build report: caps applied, a thin week.
    notes: tuple[str, ...] = ()


class DeliveryState(StrEnum):
    """States of one (issue, subscriber) row: pending -> sending -> sent|deferred|bounced|failed."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    DEFERRED = "deferred"
    BOUNCED = "bounced"
    FAILED = "failed"
    # The subscriber left (unsubscribed, bounced, complained) before the row was sent.
    SUPPRESSED = "suppressed"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the relay said about one message, classified."""

    state: DeliveryState
    code: int | None
    reply: str
    relay: str = ""
    # No relay could be reached (refused connection, 421 greeting, failed TLS, 454 on AUTH):
    # nothing was tried for this recipient, so it is not one of their attempts.
    unreachable: bool = False


@dataclass(frozen=True, slots=True)
class DeliveryTask:
    """One claimed delivery: who gets the message and under which Message-ID."""

    delivery_id: int
    subscriber: Subscriber
    message_id: str
    attempts: int = 0


@dataclass(frozen=True, slots=True)
class SavedIssue:
    """An issue as saved in the ledger: what preview, send and archive all read."""

    id: int
    newsletter: str
    week: IsoWeek
    number: int
    rendered: RenderedIssue
    issue_json: str
    built_at: dt.datetime


@dataclass(frozen=True, slots=True)
class SendReport:
    """How a send ended: counts per state and the addresses left in flight by a crash."""

    issue_week: IsoWeek
    counts: tuple[tuple[str, int], ...]
    in_flight: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    # Why the send stopped before the end (a pause, a signal); empty when it finished.
    stopped: str = ""
    # The worker that made this report (host:pid:random).
    worker: str = ""

    def count(self, state: DeliveryState) -> int:
        return dict(self.counts).get(state.value, 0)


class SignupOutcome(StrEnum):
    """What a subscription request leads to (the visitor sees the same answer for all)."""

    SEND_CONFIRMATION = "send_confirmation"
    ALREADY_SUBSCRIBED = "already_subscribed"
    TOO_SOON = "too_soon"


@dataclass(frozen=True, slots=True)
class SubscriberRecord:
    """A subscriber as the ledger keeps them."""

    subscriber: Subscriber
    status: str
    paused_until: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class IssueEntry:
    """One past issue in the archive's index."""

    week: IsoWeek
    number: int
    subject: str
    built_at: dt.datetime
