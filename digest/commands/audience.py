"""Commands about the readers: the subscriber list and the web side."""

from __future__ import annotations

from pathlib import Path

import click

from digest.commands.base import (
    Context,
    pass_context,
    utc_now,
)
from digest.subscribers import clean_name, normalize_address, read_subscriber_csv


@click.group()
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
        added = ledger.add_subscriber(address, clean_name(name), utc_now())
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


@click.command()
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
