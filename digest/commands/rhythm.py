"""Commands of the weekly rhythm: the scheduler, hold and release."""

from __future__ import annotations

import asyncio
from typing import Any

import click

from digest.commands.base import (
    Context,
    pass_context,
    relays,
    run,
    utc_now,
    week_option,
)


@click.command()
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


@click.command()
@week_option
@pass_context
def hold(ctx: Context, week: str | None) -> None:
    """Stop the scheduled send of the week until 'digest release'."""
    _set_held(ctx, week, held=True)


@click.command()
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
