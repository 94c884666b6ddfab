"""What every command shares: the settings loaded once, the clock, the week option."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import click

from digest.config import Settings, load_settings
from digest.delivery import RelaySet, make_relays
from digest.errors import ConfigError, DigestError
from digest.ledger import Ledger
from digest.models import IsoWeek, SavedIssue

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


def load_saved(ctx: Context, ledger: Ledger, week: IsoWeek) -> SavedIssue:
    """The saved issue of the week, or a one-line error saying to build it first."""
    saved = ledger.load_issue(ctx.settings.newsletter.name, week)
    if saved is None:
        raise DigestError(f"no issue built for week {week}: run 'digest build --week {week}'")
    return saved


def relays(ctx: Context, ledger: Ledger | None) -> RelaySet:
    """The configured relays; with a ledger, their rate limits are shared by all workers."""
    if not ctx.settings.smtp.host:
        raise ConfigError("no SMTP relay configured: set smtp.host (or DIGEST_SMTP__HOST)")
    sending = ctx.settings.sending
    return make_relays(ctx.settings.smtp, sending.relays, ledger, sending.relay_cooldown_seconds)
