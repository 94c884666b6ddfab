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
from digest.delivery import SmtpSender
from digest.errors import ConfigError, DigestError
from digest.ledger import Ledger
from digest.models import DeliveryState, IsoWeek, SavedIssue
from digest.pipeline import (
    BuildResult,
    build_issue,
    send_issue,
    send_preview,
    write_build,
)
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
    lines.extend(f"  summary skipped: {error}" for error in result.summary_errors)
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
    ledger = ctx.ledger()
    try:
        saved = load_saved(ctx, ledger, ctx.week(week))
    finally:
        ledger.close()
    results = run(_preview(ctx, saved, addresses))
    for address, outcome in results:
        click.echo(
            f"{address}: {outcome.state.value} {outcome.code or ''} {outcome.reply}".rstrip()
        )
    if any(outcome.state is not DeliveryState.SENT for _, outcome in results):
        raise DigestError("the preview did not reach every recipient (see above)")


async def _preview(ctx: Context, saved: SavedIssue, addresses: Sequence[str]) -> list[Any]:
    sender = SmtpSender(ctx.settings.smtp)
    try:
        await sender.check()
        return await send_preview(saved, addresses, ctx.settings, sender, ctx.secret(), utc_now())
    finally:
        await sender.close()


@cli.command()
@week_option
@pass_context
def send(ctx: Context, week: str | None) -> None:
    """Send the saved issue of the week to every subscriber not yet sent (resumable)."""
    secret = ctx.secret()
    ledger = ctx.ledger()
    try:
        saved = load_saved(ctx, ledger, ctx.week(week))
        report = run(_send(ctx, saved, ledger, secret))
    finally:
        ledger.close()
    counts = ", ".join(f"{state} {n}" for state, n in report.counts) or "nobody to send to"
    click.echo(f"Sent {saved.newsletter} n°{saved.number} ({saved.week}): {counts}")
    for address in report.in_flight:
        click.echo(f"  in flight at an earlier stop (not resent): {address}")
    for error in report.errors:
        click.echo(f"  error: {error}", err=True)
    if report.errors:
        raise DigestError("the send stopped early (see errors above)")


async def _send(ctx: Context, saved: SavedIssue, ledger: Ledger, secret: bytes) -> Any:
    sender = SmtpSender(ctx.settings.smtp)
    try:
        await sender.check()
        return await send_issue(saved, ctx.settings, ledger, sender, secret, utc_now)
    finally:
        await sender.close()


@cli.command()
@week_option
@pass_context
def status(ctx: Context, week: str | None) -> None:
    """Show the week's issue and its deliveries per state."""
    ledger = ctx.ledger()
    try:
        saved = load_saved(ctx, ledger, ctx.week(week))
        counts = ledger.counts(saved.id)
        in_flight = ledger.in_flight(saved.id)
    finally:
        ledger.close()
    click.echo(
        f"{saved.newsletter} n°{saved.number} ({saved.week}), built "
        f"{saved.built_at:%Y-%m-%d %H:%M} UTC: {saved.rendered.subject}"
    )
    for state in DeliveryState:
        click.echo(f"  {state.value:9} {counts.get(state.value, 0)}")
    for address in in_flight:
        click.echo(f"  in flight: {address}")


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
@click.argument("source", required=False, type=click.Path(path_type=Path))
@click.option(
    "--jsonl",
    type=click.File("r", encoding="utf-8"),
    metavar="FILE",
    help="Batch mode: read lines {id, title, text} ('-' for stdin), "
    "write lines {id, summary} in the same order.",
)
@pass_context
def summarize(ctx: Context, source: Path | None, jsonl: TextIO | None) -> None:
    """Print the summary of an article file, or summarize a JSON Lines batch."""
    from digest.summary_io import summarize_file, summarize_jsonl

    summarizer_settings = ctx.settings.summarizer
    if jsonl is not None:
        failures = summarize_jsonl(jsonl, sys.stdout, summarizer_settings)
        if failures:
            raise DigestError(f"{failures} lines could not be summarized (see their 'error')")
        return
    if source is None:
        raise click.UsageError("give an article FILE or --jsonl -")
    click.echo(summarize_file(source, summarizer_settings, ctx.settings.newsletter.zone))


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
