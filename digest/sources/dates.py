"""Publication dates of every precision, read the one way all sources share.

Rules (``tz`` is the newsletter's timezone):

- an aware timestamp (ISO 8601 with an offset or ``Z``, RFC 822 as in RSS) is that instant;
- a naive timestamp (``2025-01-20T09:30``) is local time in ``tz``;
- a date only (``2025-01-20``, or ``20/01/2025``) is noon local time that day, so it falls
  inside that day's week whatever the offset;
- a month only (``2025-01``) is kept by a week only if the week overlaps the month, and then
  counts as the first instant of the overlap: ``max(month start, week start)``. Read alone
  (``parse_published``) it is the first instant of the month.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from digest.errors import ArticleError
from digest.models import Article, IsoWeek

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_DAY = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_FRENCH_DAY = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
_NOON = dt.time(12)


class Precision(StrEnum):
    """How much of a publication date a source gave."""

    INSTANT = "instant"
    DAY = "day"
    MONTH = "month"


@dataclass(frozen=True, slots=True)
class Published:
    """A publication date and the precision it was given with."""

    moment: dt.datetime
    precision: Precision


@dataclass(frozen=True, slots=True)
class DatedArticle:
    """An article as a source read it, with the precision of its date (for the week window)."""

    article: Article
    precision: Precision
    # The source gave only a teaser of the text (an excerpt ending in "[…]"): fetch the page.
    teaser: bool = False


def parse_published(text: str, tz: ZoneInfo) -> dt.datetime:
    """Read a publication date of any precision as an aware datetime in ``tz``."""
    return read_published(text, tz).moment


def read_published(text: str, tz: ZoneInfo) -> Published:
    """Read a publication date and its precision; raise ArticleError when unreadable."""
    value = text.strip()
    try:
        if match := _MONTH.match(value):
            first = dt.date(int(match.group(1)), int(match.group(2)), 1)
            return Published(dt.datetime.combine(first, dt.time(0), tzinfo=tz), Precision.MONTH)
        if match := _DAY.match(value):
            day = dt.date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
            return Published(dt.datetime.combine(day, _NOON, tzinfo=tz), Precision.DAY)
        if match := _FRENCH_DAY.match(value):
            day = dt.date(int(match.group(3)), int(match.group(2)), int(match.group(1)))
            return Published(dt.datetime.combine(day, _NOON, tzinfo=tz), Precision.DAY)
        return Published(_read_timestamp(value, tz), Precision.INSTANT)
    except (ValueError, OverflowError, TypeError) as exc:
        raise ArticleError(f"unreadable date {value!r}") from exc


def place_in_week(
    published: dt.datetime, precision: Precision, week: IsoWeek, tz: ZoneInfo
) -> dt.datetime | None:
    """The date an article counts for in ``week``, or None when it lies outside the week."""
    start, end = week.start(tz), week.end(tz)
    if precision is Precision.MONTH:
        month_start = published.astimezone(tz)
        month_start = month_start.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        month_end = _next_month(month_start)
        if month_start < end and month_end > start:
            return max(month_start, start)
        return None
    return published if start <= published < end else None


def _read_timestamp(value: str, tz: ZoneInfo) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        # RFC 822 dates (RSS pubDate); "-0000" means UTC with no local offset known.
        moment = parsedate_to_datetime(value)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=tz)
    return moment.astimezone(tz)


def _next_month(month_start: dt.datetime) -> dt.datetime:
    year, month = divmod(month_start.month, 12)
    return month_start.replace(year=month_start.year + year, month=month + 1)
