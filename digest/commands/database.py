"""`digest db`: the ledger's schema."""

from __future__ import annotations

import click

from digest.commands.base import Context, pass_context
from digest.ledger import upgrade_database
from digest.ledger.schema import head


@click.group()
def db() -> None:
    """The database (ledger): its schema version and upgrades."""


@db.command()
@pass_context
def upgrade(ctx: Context) -> None:
    """Bring the database up to this version's schema, in place, keeping every row."""
    done = upgrade_database(ctx.settings.database.url)
    if done.before is None and not done.applied:
        click.echo(f"Database ready at schema revision {done.after}.")
    elif not done.applied:
        click.echo(f"Database already at schema revision {done.after}; nothing to do.")
    else:
        before = done.before or "unversioned (first release)"
        click.echo(
            f"Database upgraded from {before} to {done.after} (applied: {', '.join(done.applied)})."
        )


@db.command()
def revision() -> None:
    """Print the schema revision this version of digest works with."""
    click.echo(head())
