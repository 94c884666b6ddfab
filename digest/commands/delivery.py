"""Commands that send: the preview, the send, its status, and bounces."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from digest.commands.base import (
    Context,
    load_saved,
    pass_context,
    relays,
    run,
    utc_now,
    week_option,
)
from digest.config import Settings
from digest.delivery import make_relays
from digest.dispatch import SendOptions
from digest.errors import ConfigError, DigestError
from digest.ledger import Ledger
from digest.ledger.workers import WorkerIdentity
from digest.models import DeliveryState, Outcome, SavedIssue, SendReport
from digest.pipeline import (
    build_issue,
    send_issue,
    send_preview,
    write_dry_run,
)
from digest.progress import describe_address, describe_send, describe_status
from digest.subscribers import normalize_address


@click.command("send-preview")
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
    report_preview(deliver_preview(ctx, saved, addresses))


def deliver_preview(
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


def report_preview(results: list[tuple[str, Outcome]]) -> None:
    """Print each editor's outcome; an error when one of them was not reached."""
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


@click.command()
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
@click.option(
    "--worker",
    "join",
    is_flag=True,
    help="Share the send with the other workers running it (any number, on any machine).",
)
@pass_context
def send(
    ctx: Context,
    week: str | None,
    dry_run: Path | None,
    limit: int | None,
    only: tuple[str, ...],
    resend_unconfirmed: bool,
    join: bool,
) -> None:
    """Send the saved issue of the week to every subscriber not yet sent (resumable).

    With --worker, several processes share one send through the ledger (PostgreSQL for
    several machines): each claims rows in batches, none is sent twice."""
    secret = ctx.secret()
    addresses = tuple(normalize_address(a) for a in only)
    options = SendOptions(limit, addresses, resend_unconfirmed, join)
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


async def _send(
    ctx: Context, saved: SavedIssue, ledger: Ledger, secret: bytes, options: SendOptions
) -> SendReport:
    sender = relays(ctx, ledger)
    worker = WorkerIdentity.of_this_process()
    click.echo(f"Worker {worker.id}: sending week {saved.week}")
    try:
        await sender.check()
        return await send_issue(
            saved,
            ctx.settings,
            ledger,
            sender,
            secret,
            utc_now,
            options,
            handle_signals=True,
            worker=worker,
        )
    finally:
        await sender.close()


@click.command()
@week_option
@click.option(
    "--address",
    "addresses",
    multiple=True,
    metavar="ADDR",
    help="Also show ADDR's delivery: state, attempts and every refusal (repeatable).",
)
@pass_context
def status(ctx: Context, week: str | None, addresses: tuple[str, ...]) -> None:
    """Show the week's state, deliveries per state, rate, ETA, last errors and next runs."""
    from digest.scheduling import describe_week

    iso_week = ctx.week(week)
    wanted = [normalize_address(address) for address in addresses]
    ledger = ctx.ledger()
    try:
        lines = describe_week(ctx.settings, ledger, iso_week, utc_now())
        saved = ledger.load_issue(ctx.settings.newsletter.name, iso_week)
        if saved is not None:
            lines += describe_status(ledger, saved, utc_now())
            for address in wanted:
                lines += describe_address(ledger, saved, address)
        elif addresses:
            lines.append(f"  no issue for {iso_week}: no deliveries to show")
    finally:
        ledger.close()
    for line in lines:
        click.echo(line)


@click.group()
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
