"""build_issue and send_issue: the one module that knows every stage.

Build is pure stages then one save; send reads only what was saved, so the preview,
the send and the web archive all show the same bytes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from dataclasses import replace as dc_replace
from pathlib import Path

from digest.composition import compose_issue, french_date, load_editor_note, make_story
from digest.config import CompositionSettings, Settings
from digest.delivery import RelaySet, Sender
from digest.dispatch import Dispatch, SendOptions, stop_on_signals
from digest.errors import DeliveryError, RenderError
from digest.exports import issue_to_json, write_build_files
from digest.ledger import Ledger
from digest.ledger.workers import WorkerIdentity
from digest.messages import build_message, make_message_id, personal_slots
from digest.models import (
    DeliveryTask,
    GatherResult,
    IsoWeek,
    Issue,
    Outcome,
    RenderedIssue,
    SavedIssue,
    SendReport,
    Story,
    Subscriber,
)
from digest.preflight import Finding, Severity, check_issue, has_errors
from digest.rendering import Renderer, fill_slots, public_slots
from digest.signing import make_signer
from digest.sources.gather import gather_articles
from digest.summaries import Written, make_summarizer, summarize_batch, summary_key

Clock = Callable[[], dt.datetime]
_SAFE_NAME = re.compile(r"[^A-Za-z0-9@._+-]")


@dataclass(frozen=True, slots=True)
class BuildResult:
    """A built and saved issue, with what the build skipped and why."""

    saved: SavedIssue
    issue: Issue
    gather: GatherResult
    summary_errors: tuple[str, ...]
    # What the build changed to fit (cards turned into briefs) and preflight's warnings.
    notes: tuple[str, ...] = ()
    findings: tuple[Finding, ...] = ()
    # Articles the offline summarizer wrote because the model's answer failed, and why.
    summary_fallbacks: tuple[str, ...] = ()


async def build_issue(
    settings: Settings, ledger: Ledger, week: IsoWeek, now: dt.datetime
) -> BuildResult:
    """Gather, summarize, compose, render and save the week's issue."""
    zone = settings.newsletter.zone
    gathered = await gather_articles(settings.sources, week, zone, now, settings.gather)
    stories, errors, fallbacks = summarize_counted(settings, gathered, ledger, now)
    newsletter = settings.newsletter.name
    number = ledger.issue_number_for(newsletter, week)
    note = None
    if settings.composition.editor_note_path:
        note = load_editor_note(
            settings.composition.editor_note_path,
            week,
            settings.composition.editor_signature,
            role=settings.composition.editor_role,
            photo_url=settings.composition.editor_photo_url,
        )
    issue_date = issue_day(week, now, settings)
    issue = compose_issue(
        stories,
        newsletter=settings.newsletter,
        composition=pinned_composition(settings, gathered),
        week=week,
        number=number,
        issue_date=issue_date,
        editor_note=note,
    )
    rendered, issue, notes, findings = render_checked(settings, issue, french_date(issue_date))
    saved = ledger.save_issue(newsletter, week, number, rendered, issue_to_json(issue), now)
    return BuildResult(saved, issue, gathered, tuple(errors), notes, findings, fallbacks)


def pinned_composition(settings: Settings, gathered: GatherResult) -> CompositionSettings:
    """The composition settings, with the week's editorial pin as the featured story."""
    if not gathered.featured_url:
        return settings.composition
    return settings.composition.model_copy(update={"featured_url": gathered.featured_url})


def render_checked(
    settings: Settings, issue: Issue, date_label: str
) -> tuple[RenderedIssue, Issue, tuple[str, ...], tuple[Finding, ...]]:
    """Render within the size budget and preflight; RenderError when the issue is not ready."""
    budget = settings.composition.html_budget_kib * 1024
    renderer = Renderer(settings.templates, settings.newsletter)
    rendering = renderer.render_within(issue, date_label=date_label, budget_bytes=budget)
    notes: tuple[str, ...] = ()
    if rendering.demoted:
        notes = (
            f"{rendering.demoted} cards became En bref entries to keep the HTML under "
            f"{settings.composition.html_budget_kib} KiB",
        )
    findings = check_issue(rendering.rendered, budget_bytes=budget)
    if has_errors(findings):
        errors = [str(f) for f in findings if f.severity is Severity.ERROR]
        raise RenderError(
            f"issue {issue.week} not ready, not saved ({len(errors)} preflight errors): "
            + "; ".join(errors)
        )
    return rendering.rendered, rendering.issue, notes, findings


def summarize_articles(
    settings: Settings,
    gathered: GatherResult,
    ledger: Ledger | None = None,
    now: dt.datetime | None = None,
) -> tuple[list[Story], list[str]]:
    """Summarize every article (reusing the ledger's cached summaries); a failure is left out."""
    stories, errors, _ = summarize_counted(settings, gathered, ledger, now)
    return stories, errors


def summarize_counted(
    settings: Settings,
    gathered: GatherResult,
    ledger: Ledger | None = None,
    now: dt.datetime | None = None,
) -> tuple[list[Story], list[str], tuple[str, ...]]:
    """Stories, errors and fallbacks; the uncached articles are summarized as one batch."""
    summarizer = make_summarizer(settings.summarizer)
    keys = [summary_key(article, settings.summarizer) for article in gathered.articles]
    cached = [ledger.cached_summary(key) if ledger else None for key in keys]
    missing = [a for a, hit in zip(gathered.articles, cached, strict=True) if hit is None]
    fresh = iter(summarize_batch(summarizer, missing))
    stories: list[Story] = []
    errors: list[str] = []
    fallbacks: list[str] = []
    for article, key, hit in zip(gathered.articles, keys, cached, strict=True):
        written = Written(hit) if hit is not None else next(fresh)
        if written.summary is None:
            errors.append(written.error)
            continue
        # A fallback is not cached, so the next build asks the model again.
        if hit is None and ledger and not written.fallback:
            ledger.cache_summary(key, written.summary, now or dt.datetime.now(dt.UTC))
        fallbacks += [written.fallback] if written.fallback else []
        stories.append(make_story(article, written.summary))
    return stories, errors, tuple(fallbacks)


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


def make_preview(saved: SavedIssue, recipient: str, settings: Settings, now: dt.datetime) -> bytes:
    """The exact message a subscriber gets (signed alike), to an editor, subject marked."""
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
    # A dummy reader's links: an editor clicking them in the preview changes nothing.
    slots = dc_replace(
        public_slots(settings.newsletter),
        preferences_url=f"{settings.newsletter.web_base_url}/preferences",
    )
    message = build_message(
        marked, person, slots, newsletter=settings.newsletter, message_id=message_id, date=now
    )
    signer = make_signer(settings.sending, settings.newsletter)
    return signer.sign(message) if signer is not None else message


async def send_preview(
    saved: SavedIssue,
    recipients: Sequence[str],
    settings: Settings,
    sender: Sender,
    now: dt.datetime,
) -> list[tuple[str, Outcome]]:
    """Send the saved issue to the editors; nothing is written to the ledger."""
    results = []
    for recipient in recipients:
        message = make_preview(saved, recipient, settings, now)
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
    options: SendOptions | None = None,
    *,
    handle_signals: bool = False,
    halt: asyncio.Event | None = None,
    worker: WorkerIdentity | None = None,
) -> SendReport:
    """Send the saved issue to every active subscriber not yet sent; resumable.

    This process takes part as one send worker (``worker``, or a new identity); with
    ``options.join`` it shares the send with the workers already at it.

    ``halt``, when set by the caller (the scheduler stopping), ends the send at the next
    message boundary, exactly as SIGTERM does with ``handle_signals``.
    """
    options = options or SendOptions()
    worker = join_send(ledger, saved, settings, options, clock(), worker)
    try:
        return await _send_as(
            worker, saved, settings, ledger, sender, secret, clock, options, handle_signals, halt
        )
    finally:
        ledger.retire_worker(worker.id, clock())


def join_send(
    ledger: Ledger,
    saved: SavedIssue,
    settings: Settings,
    options: SendOptions,
    now: dt.datetime,
    worker: WorkerIdentity | None = None,
) -> WorkerIdentity:
    """Register this process as a worker of the issue's send, after the checks that keep two
    sends from overlapping by mistake; the rows to send are prepared (idempotently)."""
    ledger.retire_dead(saved.id, now)
    live = ledger.live_workers(saved.id, now)
    if live and not options.join:
        raise DeliveryError(
            f"week {saved.week} is being sent by worker {live[0].id} (lease until "
            f"{live[0].expires_at:%H:%M:%S} UTC): add --worker to share the send with it, "
            "or wait until it ends"
        )
    if options.resend_unconfirmed:
        ledger.resend_unconfirmed(saved.id, [w.id for w in live], now)
    worker = worker or WorkerIdentity.of_this_process()
    lease = dt.timedelta(seconds=settings.sending.worker_lease_seconds)
    ledger.register_worker(worker, saved.id, now, lease)
    domain, key = sender_domain(settings), issue_key(saved)
    ledger.prepare_deliveries(
        saved.id,
        lambda email: make_message_id(key, email, domain),
        now,
        settings.sending.page_size,
    )
    ledger.suppress_inactive(saved.id, now)
    ledger.requeue_due(saved.id, now)
    return worker


async def _send_as(
    worker: WorkerIdentity,
    saved: SavedIssue,
    settings: Settings,
    ledger: Ledger,
    sender: Sender,
    secret: bytes,
    clock: Clock,
    options: SendOptions,
    handle_signals: bool,
    halt: asyncio.Event | None,
) -> SendReport:
    in_flight = tuple(ledger.unconfirmed(saved.id, clock()))
    dispatch = Dispatch(
        ledger,
        sender,
        message_builder(saved, settings, secret, clock),
        envelope_from=settings.newsletter.from_address,
        settings=settings.sending,
        clock=clock,
        connections=sender.connections
        if isinstance(sender, RelaySet)
        else settings.smtp.connections,
        worker=worker,
    )
    watcher = asyncio.create_task(_halt_on(halt, dispatch)) if halt is not None else None
    try:
        if handle_signals:
            with stop_on_signals(dispatch.stop):
                errors = await dispatch.run(saved.id, options)
        else:
            errors = await dispatch.run(saved.id, options)
    finally:
        if watcher is not None:
            watcher.cancel()
    counts = tuple(sorted(ledger.counts(saved.id).items()))
    return SendReport(saved.week, counts, in_flight, tuple(errors), dispatch.reason, worker.id)


async def _halt_on(halt: asyncio.Event, dispatch: Dispatch) -> None:
    await halt.wait()
    dispatch.stop("stopped with the scheduler at a message boundary; it resumes on the next start")


def message_builder(
    saved: SavedIssue, settings: Settings, secret: bytes, clock: Clock
) -> Callable[[DeliveryTask], bytes]:
    """The function that makes (and signs) one subscriber's message."""
    signer = make_signer(settings.sending, settings.newsletter)
    feedback_id = settings.sending.feedback_id.replace("{issue}", issue_key(saved))

    def build(task: DeliveryTask) -> bytes:
        slots = personal_slots(task.subscriber, secret=secret, newsletter=settings.newsletter)
        message = build_message(
            saved.rendered,
            task.subscriber,
            slots,
            newsletter=settings.newsletter,
            message_id=task.message_id,
            date=clock(),
            feedback_id=feedback_id,
        )
        return signer.sign(message) if signer is not None else message

    return build


def write_dry_run(
    saved: SavedIssue,
    settings: Settings,
    ledger: Ledger,
    secret: bytes,
    clock: Clock,
    out: Path,
    options: SendOptions,
) -> int:
    """Write the messages a send would send as .eml files in ``out``; the ledger is untouched."""
    domain, key = sender_domain(settings), issue_key(saved)
    build = message_builder(saved, settings, secret, clock)
    out.mkdir(parents=True, exist_ok=True)
    written, after = 0, 0
    limit = options.limit if options.limit is not None else -1
    while written != limit:
        page = ledger.unsent_subscribers(saved.id, after, settings.sending.page_size, options.only)
        if not page:
            break
        for person in page[: limit - written if limit >= 0 else None]:
            task = DeliveryTask(0, person, make_message_id(key, person.email, domain))
            written += 1
            name = f"{written:06d}-{_SAFE_NAME.sub('_', person.email)}.eml"
            (out / name).write_bytes(build(task))
        after = page[-1].id or 0
    return written


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
            "preview.eml": make_preview(saved, reader, settings, now),
        },
    )
