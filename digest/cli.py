"""The ``digest`` command: the only place that turns DigestError into exit codes."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import click

from digest.commands import audience, database, delivery, issue, rhythm
from digest.commands.base import Context
from digest.errors import DigestError


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


for command in (
    issue.build,
    issue.gather_command,
    issue.check,
    issue.summarize,
    issue.demo,
    delivery.send_preview_command,
    delivery.send,
    delivery.status,
    delivery.bounces,
    audience.subscribers,
    audience.serve,
    rhythm.schedule,
    rhythm.hold,
    rhythm.release,
    database.db,
):
    cli.add_command(command)


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
