"""build_issue and send_issue: the one module that knows every stage.

Build is pure stages then one save; send reads only what was saved, so the preview,
the send and the web archive all show the same bytes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from digest.composition import compose_issue, french_date, load_editor_note, make_story
from digest.config import Settings
from digest.delivery import Sender
from digest.errors import DigestError, SummaryError
from digest.exports import issue_to_json, write_build_files
from digest.ledger import Ledger
from digest.messages import build_message, make_message_id, personal_slots
from digest.models import (
    DeliveryState,
    DeliveryTask,
    GatherResult,
    IsoWeek,
    Issue,
    Outcome,
    SavedIssue,
    SendReport,
    Story,
    Subscriber,
)
from digest.rendering import Renderer, fill_slots, public_slots
from digest.sources.gather import gather_articles
from digest.summaries import make_summarizer

Clock = Callable[[], dt.datetime]
BATCH = 200
# After this many failures in a row (relay refusing us, not one recipient), stop and say why.
PAUSE_AFTER_FAILURES = 10


@dataclass(frozen=True, slots=True)
class BuildResult:
    """A built and saved issue, with what the build skipped and why."""

    saved: SavedIssue
    issue: Issue
    gather: GatherResult
    summary_errors: tuple[str, ...]


async def build_issue(
    settings: Settings, ledger: Ledger, week: IsoWeek, now: dt.datetime
) -> BuildResult:
    """Gather, summarize, compose, render and save the week's issue."""
    zone = settings.newsletter.zone
    gathered = await gather_articles(settings.sources, week, zone, now)
    stories, errors = summarize_articles(settings, gathered)
    newsletter = settings.newsletter.name
    number = ledger.issue_number_for(newsletter, week)
    note = None
    if settings.composition.editor_note_path:
        note = load_editor_note(
            settings.composition.editor_note_path, week, settings.composition.editor_signature
        )
    issue_date = issue_day(week, now, settings)
    issue = compose_issue(
        stories,
        newsletter=settings.newsletter,
        composition=settings.composition,
        week=week,
        number=number,
        issue_date=issue_date,
        editor_note=note,
    )
    renderer = Renderer(settings.templates, settings.newsletter)
    rendered = renderer.render(issue, date_label=french_date(issue_date))
    saved = ledger.save_issue(newsletter, week, number, rendered, issue_to_json(issue), now)
    return BuildResult(saved, issue, gathered, tuple(errors))


def summarize_articles(settings: Settings, gathered: GatherResult) -> tuple[list[Story], list[str]]:
    """Summarize every article; one that fails is reported and left out."""
    summarizer = make_summarizer(settings.summarizer)
    stories: list[Story] = []
    errors: list[str] = []
    for article in gathered.articles:
        try:
            stories.append(make_story(article, summarizer.summarize(article)))
        except SummaryError as exc:
            errors.append(str(exc))
    return stories, errors


def issue_day(week: IsoWeek, now: dt.datetime, settings: Settings) -> dt.date:
    """The date printed on the issue: today when building the current week, else its Friday."""
    today = now.astimezone(settings.newsletter.zone).date()
    monday = week.monday()
    if monday <= today < monday + dt.timedelta(days=7):
        return today
    return monday + dt.timedelta(days=4)


def issue_key(saved: SavedIssue) -> str:
    """A stable key of the issue, used in Message-IDs."""
    return f"{saved.week}.n{saved.number}"


def sender_domain(settings: Settings) -> str:
    """The domain of the From address, used on the right of Message-IDs."""
    return settings.newsletter.from_address.rpartition("@")[2] or "localhost"


def make_preview(
    saved: SavedIssue, recipient: str, settings: Settings, secret: bytes, now: dt.datetime
) -> bytes:
    """The exact message a subscriber gets, addressed to an editor, subject marked."""
    person = Subscriber(recipient)
    stamp = now.strftime("%Y%m%d%H%M%S")
    message_id = make_message_id(
        f"{issue_key(saved)}.preview{stamp}", recipient, sender_domain(settings)
    )
    rendered = saved.rendered
    marked = type(rendered)(
        f"[Aperçu] {rendered.subject}",
        rendered.preheader,
        rendered.html,
        rendered.text,
        rendered.web_html,
    )
    slots = personal_slots(person, secret=secret, newsletter=settings.newsletter)
    return build_message(
        marked, person, slots, newsletter=settings.newsletter, message_id=message_id, date=now
    )


async def send_preview(
    saved: SavedIssue,
    recipients: Sequence[str],
    settings: Settings,
    sender: Sender,
    secret: bytes,
    now: dt.datetime,
) -> list[tuple[str, Outcome]]:
    """Send the saved issue to the editors; nothing is written to the ledger."""
    results = []
    for recipient in recipients:
        message = make_preview(saved, recipient, settings, secret, now)
        outcome = await sender.send(settings.newsletter.from_address, recipient, message)
        results.append((recipient, outcome))
    return results


async def send_issue(
    saved: SavedIssue,
    settings: Settings,
    ledger: Ledger,
    sender: Sender,
    secret: bytes,
    clock: Clock,
) -> SendReport:
    """Send the saved issue to every active subscriber not yet sent; resumable."""
    in_flight = tuple(ledger.in_flight(saved.id))
    domain = sender_domain(settings)
    key = issue_key(saved)
    people = [s for s, _ in ledger.list_subscribers()]
    ledger.prepare_deliveries(
        saved.id,
        [(p.id, make_message_id(key, p.email, domain)) for p in people if p.id is not None],
        clock(),
    )
    ledger.requeue_deferred(saved.id, clock())
    errors = await _send_batches(saved, settings, ledger, sender, secret, clock)
    counts = tuple(sorted(ledger.counts(saved.id).items()))
    return SendReport(saved.week, counts, in_flight, tuple(errors))


async def _send_batches(
    saved: SavedIssue,
    settings: Settings,
    ledger: Ledger,
    sender: Sender,
    secret: bytes,
    clock: Clock,
) -> list[str]:
    failures_in_a_row = 0
    errors: list[str] = []
    while tasks := ledger.claim(saved.id, BATCH, clock()):
        outcomes = await asyncio.gather(
            *(_deliver(task, saved, settings, sender, secret, clock) for task in tasks)
        )
        for task, outcome in zip(tasks, outcomes, strict=True):
            ledger.record(task.delivery_id, outcome, clock())
            if outcome.state is DeliveryState.FAILED:
                failures_in_a_row += 1
                errors.append(f"{task.subscriber.email}: {outcome.code} {outcome.reply}")
            elif outcome.state is DeliveryState.SENT:
                failures_in_a_row = 0
        if failures_in_a_row >= PAUSE_AFTER_FAILURES:
            errors.append(
                f"paused after {failures_in_a_row} failures in a row: the relay refuses the "
                "messages; fix the cause and run 'digest send' again to resume"
            )
            break
    return errors


async def _deliver(
    task: DeliveryTask,
    saved: SavedIssue,
    settings: Settings,
    sender: Sender,
    secret: bytes,
    clock: Clock,
) -> Outcome:
    try:
        slots = personal_slots(task.subscriber, secret=secret, newsletter=settings.newsletter)
        message = build_message(
            saved.rendered,
            task.subscriber,
            slots,
            newsletter=settings.newsletter,
            message_id=task.message_id,
            date=clock(),
        )
    except DigestError as exc:
        return Outcome(DeliveryState.FAILED, None, str(exc))
    return await sender.send(settings.newsletter.from_address, task.subscriber.email, message)


def write_build(
    result: BuildResult, settings: Settings, secret: bytes, out: Path, now: dt.datetime
) -> list[Path]:
    """Write issue.html (web version), issue.txt, issue.json and preview.eml into ``out``."""
    saved = result.saved
    reader = (settings.preview_recipients or (settings.newsletter.from_address,))[0]
    public = public_slots(settings.newsletter)
    return write_build_files(
        out,
        {
            "issue.html": saved.rendered.web_html,
            "issue.txt": fill_slots(saved.rendered.text, public, html=False),
            "issue.json": saved.issue_json,
            "preview.eml": make_preview(saved, reader, settings, secret, now),
        },
    )
