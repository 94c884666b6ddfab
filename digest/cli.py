"""The ``digest`` command: the only place that turns DigestError into exit codes."""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any, TextIO, TypeVar

import click

from digest.config import Settings, load_settings
from digest.delivery import RelaySet, make_relays
from digest.dispatch import SendOptions
from digest.errors import ConfigError, DigestError
from digest.ledger import Ledger
from digest.models import DeliveryState, IsoWeek, Outcome, SavedIssue, SendReport
from digest.pipeline import (
    BuildResult,
    build_issue,
    send_issue,
    send_preview,
    write_build,
    write_dry_run,
)
from digest.progress import describe_send, describe_status
from digest.sources.gather import gather_articles
from digest.sources.health import describe_gather
from digest.subscribers import normalize_address, read_subscriber_csv

T = TypeVar("T")
DEFAULT_CONFIG = Path("digest.toml")


def utc_now() -> dt.datetime:
    """The clock of the command line (tests pass their own to the pipeline)."""
    return dt.datetime.now(dt.UTC)


class Context:
    """What every command shares: the settings, loaded once."""

    def __init__(self, config: Path | None) -> None:
        self.config = config
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            path = self.config
            if path is None and DEFAULT_CONFIG.is_file():
                path = DEFAULT_CONFIG
            self._settings = load_settings(path)
        return self._settings

    def ledger(self) -> Ledger:
        return Ledger(self.settings.database.url)

    def secret(self) -> bytes:
        key = self.settings.secret_key.get_secret_value()
        if not key:
            raise ConfigError(
                "DIGEST_SECRET_KEY is not set: set it to a long random string "
                "(it signs the unsubscribe links)"
            )
        return key.encode()

    def week(self, text: str | None) -> IsoWeek:
        if text is None:
            return IsoWeek.containing(utc_now(), self.settings.newsletter.zone)
        return IsoWeek.parse(text)


def _parse_week(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is not None:
        try:
            IsoWeek.parse(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from exc
    return value


week_option = click.option(
    "--week",
    callback=_parse_week,
    metavar="YYYY-Www",
    help="ISO week, e.g. 2025-W04 (default: the week in progress).",
)
pass_context = click.make_pass_decorator(Context)


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run one coroutine to completion on a fresh event loop."""
    return asyncio.run(coroutine)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    type=click.Path(path_type=Path),
    envvar="DIGEST_CONFIG",
    help="Settings file (TOML). Default: ./digest.toml if present, else built-in defaults.",
)
@click.version_option(package_name="digest")
@click.pass_context
def cli(ctx: click.Context, config: Path | None) -> None:
    """Weekly French newsletter digest: gather, summarize, compose, render and send."""
    ctx.obj = Context(config)


@cli.command()
@week_option
@click.option(
    "--out", type=click.Path(path_type=Path), help="Folder for the files (default out/WEEK)."
)
@pass_context
def build(ctx: Context, week: str | None, out: Path | None) -> None:
    """Build the week's issue, save it, and write issue.html/.txt/.json and preview.eml."""
    iso_week = ctx.week(week)
    result = build_and_write(ctx, iso_week, out or Path("out") / str(iso_week))
    click.echo(describe_build(result, out or Path("out") / str(iso_week)))
    _preview_again_if_previewed(ctx, result.saved)


def _preview_again_if_previewed(ctx: Context, saved: SavedIssue) -> None:
    """A rebuild after a preview (the note was fixed) goes to the editors again."""
    recipients = ctx.settings.preview_recipients
    ledger = ctx.ledger()
    try:
        previewed = ledger.week_state(saved.newsletter, saved.week).previewed_at
    finally:
        ledger.close()
    if previewed is None or not recipients:
        return
    click.echo("The week had been previewed: sending the rebuilt issue to the editors.")
    _report_preview(_deliver_preview(ctx, saved, list(recipients)))


@cli.command("gather")
@week_option
@pass_context
def gather_command(ctx: Context, week: str | None) -> None:
    """Gather the week's articles and print a table per source (nothing is saved)."""
    iso_week = ctx.week(week)
    settings = ctx.settings
    zone = settings.newsletter.zone
    result = run(gather_articles(settings.sources, iso_week, zone, utc_now(), settings.gather))
    click.echo(describe_gather(result, iso_week))


def build_and_write(ctx: Context, week: IsoWeek, out: Path) -> BuildResult:
    """Build and save the issue, then write its files into ``out``."""
    settings = ctx.settings
    secret = ctx.secret()
    ledger = ctx.ledger()
    try:
        now = utc_now()
        result = run(build_issue(settings, ledger, week, now))
    finally:
        ledger.close()
    write_build(result, settings, secret, out, now)
    return result


def describe_build(result: BuildResult, out: Path) -> str:
    """A short report of the build for a person."""
    lines = [
        f"Built {result.saved.newsletter} n°{result.saved.number} ({result.saved.week}): "
        f"{len(result.issue.stories)} articles -> {out}/"
    ]
    for report in result.gather.reports:
        lines.append(
            f"  source {report.source}: {report.items} items, {report.kept} kept, "
            f"{len(report.skipped)} skipped, {len(report.errors)} errors"
        )
        lines.extend(f"    error: {error}" for error in report.errors)
    lines.extend(f"  gather: {note}" for note in result.gather.notes)
    lines.extend(f"  summary skipped: {error}" for error in result.summary_errors)
    if result.summary_fallbacks:
        lines.append(
            f"  summaries: {len(result.summary_fallbacks)} written offline, "
            "the model's answer having failed"
        )
        lines.extend(f"    fallback: {reason}" for reason in result.summary_fallbacks)
    lines.extend(f"  note: {note}" for note in result.notes)
    lines.extend(f"  preflight {finding}" for finding in result.findings)
    return "\n".join(lines)


def load_saved(ctx: Context, ledger: Ledger, week: IsoWeek) -> SavedIssue:
    """The saved issue of the week, or a one-line error saying to build it first."""
    saved = ledger.load_issue(ctx.settings.newsletter.name, week)
    if saved is None:
        raise DigestError(f"no issue built for week {week}: run 'digest build --week {week}'")
    return saved


@cli.command("send-preview")
@week_option
@click.option(
    "--to",
    "recipients",
    multiple=True,
    metavar="ADDR",
    help="Preview recipient (repeatable; default: preview_recipients).",
)
@pass_context
def send_preview_command(ctx: Context, week: str | None, recipients: tuple[str, ...]) -> None:
    """Send the saved issue of the week to the editors, exactly as subscribers will get it."""
    addresses = [normalize_address(a) for a in recipients or ctx.settings.preview_recipients]
    if not addresses:
        raise ConfigError("no preview recipient: pass --to ADDR or set preview_recipients")
    iso_week = ctx.week(week)
    ledger = ctx.ledger()
    try:
        saved = ledger.load_issue(ctx.settings.newsletter.name, iso_week)
        if saved is None:
            click.echo(f"No issue saved for {iso_week} yet: building it first.")
            saved = run(build_issue(ctx.settings, ledger, iso_week, utc_now())).saved
    finally:
        ledger.close()
    _report_preview(_deliver_preview(ctx, saved, addresses))


def _deliver_preview(
    ctx: Context, saved: SavedIssue, addresses: Sequence[str]
) -> list[tuple[str, Outcome]]:
    """Send the preview through the relay, or to the local catcher when there is none."""
    if ctx.settings.smtp.host:
        results: list[tuple[str, Outcome]] = run(_preview(ctx, saved, addresses))
    else:
        results = _preview_to_catcher(ctx, saved, addresses)
    if any(outcome.state is DeliveryState.SENT for _, outcome in results):
        ledger = ctx.ledger()
        try:
            ledger.mark_previewed(saved.newsletter, saved.week, utc_now())
        finally:
            ledger.close()
    return results


def _report_preview(results: list[tuple[str, Outcome]]) -> None:
    for address, outcome in results:
        click.echo(
            f"{address}: {outcome.state.value} {outcome.code or ''} {outcome.reply}".rstrip()
        )
    if any(outcome.state is not DeliveryState.SENT for _, outcome in results):
        raise DigestError("the preview did not reach every recipient (see above)")


PREVIEW_MAILBOX = Path("digest-previews")


def _preview_to_catcher(
    ctx: Context, saved: SavedIssue, addresses: Sequence[str]
) -> list[tuple[str, Outcome]]:
    """No relay configured: deliver the preview to the local mail catcher, as files."""
    from digest.catcher import LOOPBACK, MailCatcher

    with MailCatcher(PREVIEW_MAILBOX.resolve()) as catcher:
        smtp = ctx.settings.smtp.model_copy(
            update={"host": LOOPBACK, "port": catcher.port, "security": "none"}
        )
        local = ctx.settings.model_copy(update={"smtp": smtp})
        results = run(_preview_with(local, saved, addresses))
    click.echo(f"No smtp.host configured: the preview is in {catcher.folder}/ (.eml and .html)")
    return results


async def _preview_with(
    settings: Settings, saved: SavedIssue, addresses: Sequence[str]
) -> list[tuple[str, Outcome]]:
    sender = make_relays(settings.smtp)
    try:
        await sender.check()
        return await send_preview(saved, addresses, settings, sender, utc_now())
    finally:
        await sender.close()


async def _preview(ctx: Context, saved: SavedIssue, addresses: Sequence[str]) -> list[Any]:
    sender = relays(ctx, None)
    try:
        await sender.check()
        return await send_preview(saved, addresses, ctx.settings, sender, utc_now())
    finally:
        await sender.close()


@cli.command()
@week_option
@click.option(
    "--dry-run",
    "dry_run",
    type=click.Path(path_type=Path),
    metavar="DIR",
    help="Write the messages as .eml files into DIR; send nothing, change nothing.",
)
@click.option("--limit", type=click.IntRange(min=1), help="Send at most N messages this run.")
@click.option("--only", multiple=True, metavar="ADDR", help="Send only to ADDR (repeatable).")
@click.option(
    "--resend-unconfirmed",
    is_flag=True,
    help="Send again the messages in flight at an earlier stop (their fate is unknown).",
)
@pass_context
def send(
    ctx: Context,
    week: str | None,
    dry_run: Path | None,
    limit: int | None,
    only: tuple[str, ...],
    resend_unconfirmed: bool,
) -> None:
    """Send the saved issue of the week to every subscriber not yet sent (resumable)."""
    secret = ctx.secret()
    options = SendOptions(limit, tuple(normalize_address(a) for a in only), resend_unconfirmed)
    ledger = ctx.ledger()
    try:
        saved = load_saved(ctx, ledger, ctx.week(week))
        if dry_run is not None:
            written = write_dry_run(saved, ctx.settings, ledger, secret, utc_now, dry_run, options)
            click.echo(f"Dry run: {written} messages written to {dry_run}/ (nothing sent)")
            return
        report = run(_send(ctx, saved, ledger, secret, options))
    finally:
        ledger.close()
    for line in describe_send(saved, report):
        click.echo(line)
    for error in report.errors:
        click.echo(f"  error: {error}", err=True)
    if report.stopped:
        raise DigestError(report.stopped)


def relays(ctx: Context, ledger: Ledger | None) -> RelaySet:
    """The configured relays; with a ledger, their hourly quotas count the last hour."""
    if not ctx.settings.smtp.host:
        raise ConfigError("no SMTP relay configured: set smtp.host (or DIGEST_SMTP__HOST)")
    history = ledger.relay_usage_since(utc_now() - dt.timedelta(hours=1)) if ledger else None
    sending = ctx.settings.sending
    return make_relays(ctx.settings.smtp, sending.relays, history, sending.relay_cooldown_seconds)


async def _send(
    ctx: Context, saved: SavedIssue, ledger: Ledger, secret: bytes, options: SendOptions
) -> SendReport:
    sender = relays(ctx, ledger)
    try:
        await sender.check()
        return await send_issue(
            saved, ctx.settings, ledger, sender, secret, utc_now, options, handle_signals=True
        )
    finally:
        await sender.close()


@cli.command()
@week_option
@pass_context
def check(ctx: Context, week: str | None) -> None:
    """Preflight the saved issue: size, alt texts, links, text part, unsubscribe, subject."""
    from digest.preflight import check_issue, has_errors

    ledger = ctx.ledger()
    try:
        saved = load_saved(ctx, ledger, ctx.week(week))
    finally:
        ledger.close()
    budget = ctx.settings.composition.html_budget_kib * 1024
    findings = check_issue(saved.rendered, budget_bytes=budget)
    for finding in findings:
        click.echo(str(finding))
    size = len(saved.rendered.html.encode("utf-8")) / 1024
    click.echo(
        f"{saved.newsletter} n°{saved.number} ({saved.week}): {size:.1f} KiB of HTML, "
        f"{len(findings)} findings"
    )
    if has_errors(findings):
        raise DigestError(f"the issue of {saved.week} has preflight errors (see above)")


@cli.command()
@week_option
@pass_context
def status(ctx: Context, week: str | None) -> None:
    """Show the week's state, deliveries per state, rate, ETA, last errors and next runs."""
    from digest.scheduling import describe_week

    iso_week = ctx.week(week)
    ledger = ctx.ledger()
    try:
        lines = describe_week(ctx.settings, ledger, iso_week, utc_now())
        saved = ledger.load_issue(ctx.settings.newsletter.name, iso_week)
        if saved is not None:
            lines += describe_status(ledger, saved, utc_now())
    finally:
        ledger.close()
    for line in lines:
        click.echo(line)


@cli.group()
def bounces() -> None:
    """Bounce notifications (DSN) from the mailbox that receives them."""


@bounces.command("import")
@click.argument("path", type=click.Path(path_type=Path))
@pass_context
def bounces_import(ctx: Context, path: Path) -> None:
    """Apply the bounces of an mbox file or a folder of messages to the subscriber list."""
    from digest.bounces import import_bounces

    ledger = ctx.ledger()
    try:
        report = import_bounces(path, ledger, ctx.settings.sending.soft_bounce_limit, utc_now())
    finally:
        ledger.close()
    for where in report.skipped:
        click.echo(f"skipped {where}", err=True)
    for address in report.unknown:
        click.echo(f"not on the list: {address}", err=True)
    click.echo(
        f"{report.messages} messages: {report.hard} hard and {report.soft} soft bounces, "
        f"{len(report.suppressed)} addresses suppressed"
    )


@cli.group()
def subscribers() -> None:
    """Manage the subscriber list."""


@subscribers.command("import")
@click.argument("csv_file", type=click.Path(path_type=Path))
@pass_context
def subscribers_import(ctx: Context, csv_file: Path) -> None:
    """Add the people of a CSV file (columns: email, name)."""
    people, problems = read_subscriber_csv(csv_file)
    for problem in problems:
        click.echo(f"skipped {problem}", err=True)
    ledger = ctx.ledger()
    try:
        added = ledger.add_subscribers(people, utc_now())
    finally:
        ledger.close()
    click.echo(f"{added} added, {len(people) - added} already subscribed, {len(problems)} rejected")


@subscribers.command("add")
@click.argument("email")
@click.option("--name", default="", help="The person's name, used in the greeting.")
@pass_context
def subscribers_add(ctx: Context, email: str, name: str) -> None:
    """Add one subscriber."""
    address = normalize_address(email)
    ledger = ctx.ledger()
    try:
        added = ledger.add_subscriber(address, name.strip(), utc_now())
    finally:
        ledger.close()
    click.echo(f"added {address}" if added else f"{address} is already on the list")


@subscribers.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include unsubscribed and bounced.")
@pass_context
def subscribers_list(ctx: Context, show_all: bool) -> None:
    """List subscribers, one a line: email, status, name."""
    ledger = ctx.ledger()
    try:
        rows = ledger.list_subscribers(active_only=not show_all)
    finally:
        ledger.close()
    for person, state in rows:
        click.echo(f"{person.email}\t{state}\t{person.name}")


@cli.command()
@click.option(
    "--dir",
    "workdir",
    type=click.Path(path_type=Path),
    default=Path("digest-demo"),
    show_default=True,
    help="Working folder of the demo (recreated each run).",
)
def demo(workdir: Path) -> None:
    """Run the weekly job on bundled articles and deliver it to a local mail catcher."""
    from digest.demo import run_demo

    result = run_demo(workdir.resolve(), utc_now())
    click.echo(describe_build(result.build, result.issue_dir))
    counts = ", ".join(f"{state} {n}" for state, n in result.report.counts)
    click.echo(f"Delivered to the local mail catcher: {counts}")
    click.echo(
        f"  the issue:          {result.issue_dir}/issue.html (and issue.txt, "
        "issue.json, preview.eml)"
    )
    click.echo(
        f"  the received mails: {result.mailbox}/ ({result.received} .eml files, "
        "each with an .html copy to open in a browser)"
    )
    click.echo(f"  the settings used:  {result.workdir / 'digest.toml'}")


@cli.command()
@click.argument("source", required=False)
@click.option(
    "--jsonl",
    type=click.File("r", encoding="utf-8"),
    metavar="FILE",
    help="Batch mode: read lines {id, title, text} ('-' for stdin), "
    "write lines {id, summary} in the same order.",
)
@pass_context
def summarize(ctx: Context, source: str | None, jsonl: TextIO | None) -> None:
    """Print the summary of an article file or web page, or summarize a JSON Lines batch."""
    from digest.summary_io import is_web_address, summarize_file, summarize_jsonl, summarize_url

    summarizer_settings = ctx.settings.summarizer
    if jsonl is not None:
        failures = summarize_jsonl(jsonl, sys.stdout, summarizer_settings)
        if failures:
            raise DigestError(f"{failures} lines could not be summarized (see their 'error')")
        return
    if source is None:
        raise click.UsageError("give an article FILE or URL, or --jsonl -")
    if is_web_address(source):
        click.echo(summarize_url(source, summarizer_settings))
        return
    click.echo(summarize_file(Path(source), summarizer_settings, ctx.settings.newsletter.zone))


@cli.command()
@click.option("--host", help="Address to listen on (default: web.host).")
@click.option("--port", type=int, help="Port to listen on (default: web.port).")
@pass_context
def serve(ctx: Context, host: str | None, port: int | None) -> None:
    """Run the web side: one-click unsubscribe, sign-up, preferences, archive."""
    import uvicorn

    from digest.web import create_app
    from digest.web.confirmation import SmtpConfirmationMailer

    settings = ctx.settings
    secret = ctx.secret()
    ledger = ctx.ledger()
    app = create_app(settings, ledger, secret, SmtpConfirmationMailer(settings.smtp), utc_now)
    try:
        uvicorn.run(
            app,
            host=host or settings.web.host,
            port=port or settings.web.port,
            server_header=False,
            log_level="info",
        )
    finally:
        ledger.close()


@cli.command()
@pass_context
def schedule(ctx: Context) -> None:
    """Build, preview and send each week at the configured times, until SIGINT or SIGTERM."""
    from digest.scheduling import WeeklyJobs, run_scheduler, stop_on_signals

    settings = ctx.settings
    secret = ctx.secret()
    ledger = ctx.ledger()

    async def open_relays() -> Any:
        sender = relays(ctx, ledger)
        await sender.check()
        return sender

    async def serve_schedule() -> None:
        stop = asyncio.Event()
        jobs = WeeklyJobs(settings, ledger, secret, open_relays, utc_now, _log)
        stop_on_signals(stop, jobs.halt)
        await run_scheduler(jobs, stop)

    try:
        run(serve_schedule())
    finally:
        ledger.close()
    _log("scheduler stopped")


def _log(line: str) -> None:
    click.echo(f"{utc_now():%Y-%m-%d %H:%M:%S} UTC {line}")


@cli.command()
@week_option
@pass_context
def hold(ctx: Context, week: str | None) -> None:
    """Stop the scheduled send of the week until 'digest release'."""
    _set_held(ctx, week, held=True)


@cli.command()
@week_option
@pass_context
def release(ctx: Context, week: str | None) -> None:
    """Allow the scheduled send of a held week again."""
    _set_held(ctx, week, held=False)


def _set_held(ctx: Context, week: str | None, *, held: bool) -> None:
    iso_week = ctx.week(week)
    ledger = ctx.ledger()
    try:
        ledger.set_held(ctx.settings.newsletter.name, iso_week, held, utc_now())
    finally:
        ledger.close()
    click.echo(f"week {iso_week} {'held: the scheduled send will not run' if held else 'released'}")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: 0 success, 1 a handled error (one line), 2 bad usage."""
    try:
        cli.main(args=list(argv) if argv is not None else None, standalone_mode=False)
    except click.exceptions.UsageError as exc:
        exc.show()
        return 2
    except click.exceptions.Abort:
        click.echo("interrupted", err=True)
        return 1
    except DigestError as exc:
        click.echo(f"digest: error: {exc}", err=True)
        return 1
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
