"""Helpers of the send tests: a saved issue, subscribers and settings aimed at local relays."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from digest.catcher import LOOPBACK, free_port
from digest.config import DeliverySettings, RelaySettings, Settings, SmtpSettings
from digest.delivery import make_relays
from digest.dispatch import SendOptions
from digest.ledger import Ledger
from digest.models import IsoWeek, RenderedIssue, SavedIssue, SendReport, Subscriber
from digest.pipeline import send_issue
from tests.conftest import RecordingHandler, SmtpServer

NOW = dt.datetime(2025, 1, 24, 6, 0, tzinfo=dt.UTC)
WEEK = IsoWeek(2025, 4)
SECRET = b"test-secret"
# Bodies with the personal slots still open, as the renderer leaves them.
RENDERED = RenderedIssue(
    subject="Toujours+ n°1 : la semaine en bref",
    preheader="Le résumé de la semaine",
    html="<html><body><p>%%DIGEST_GREETING%%</p>"
    + "<p>Les articles de la semaine.</p>" * 40
    + '<a href="%%DIGEST_UNSUBSCRIBE_URL%%">Se désinscrire</a></body></html>',
    text="%%DIGEST_GREETING%%\nLes articles.\nSe désinscrire : %%DIGEST_UNSUBSCRIBE_URL%%\n",
    web_html="<html><body>web</body></html>",
)


def relay(server: Any, **extra: Any) -> dict[str, Any]:
    """The settings of a plain-SMTP relay on loopback."""
    # A test relay on loopback: a login over plain SMTP stays on this machine.
    plain = {"security": "none", "allow_plain_auth": True, "timeout": 5}
    return {"host": server.host, "port": server.port, **plain, **extra}


def make_settings(
    tmp_path: Path,
    server: Any,
    *,
    smtp: dict[str, Any] | None = None,
    delivery: dict[str, Any] | None = None,
    database_url: str | None = None,
) -> Settings:
    """Settings sending to ``server`` with fast retries, and a SQLite ledger in tmp_path."""
    extra = dict(delivery or {})
    extra.setdefault("retry_base_seconds", 0.01)
    extra.setdefault("retry_max_seconds", 0.05)
    return Settings(
        smtp=SmtpSettings(**(smtp or relay(server, connections=2))),
        sending=DeliverySettings(**extra),
        database={"url": database_url or f"sqlite:///{tmp_path / 'ledger.db'}"},  # type: ignore[arg-type]
        newsletter={  # type: ignore[arg-type]
            "from_address": "lettre@example.org",
            "web_base_url": "https://lettre.example.org",
            "unsubscribe_mailto": "desinscription@example.org",
        },
    )


def prepare(ledger: Ledger, people: Sequence[str] | int) -> SavedIssue:
    """Subscribers (addresses, or a count of generated ones) and the saved issue."""
    if isinstance(people, int):
        people = [f"p{i:05d}@example.org" for i in range(people)]
    ledger.add_subscribers([Subscriber(a, f"P{i}") for i, a in enumerate(people)], NOW)
    return ledger.save_issue("Toujours+", WEEK, 1, RENDERED, "{}", NOW)


def send(
    settings: Settings,
    ledger: Ledger,
    saved: SavedIssue,
    options: SendOptions | None = None,
    extra_relays: Sequence[RelaySettings] = (),
) -> SendReport:
    """One `digest send`, in process, with the relays of the settings."""

    async def go() -> SendReport:
        sender = make_relays(settings.smtp, extra_relays or settings.sending.relays, ledger, 30)
        try:
            return await send_issue(saved, settings, ledger, sender, SECRET, _now, options)
        finally:
            await sender.close()

    return asyncio.run(go())


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class FaultyHandler(RecordingHandler):
    """A recording server with faults: scripted RCPT replies, slow or lost DATA replies."""

    rcpt_script: dict[str, list[str]] = field(default_factory=dict)
    data_delay: float = 0.0
    drop_reply_for: set[str] = field(default_factory=set)
    arrivals: list[float] = field(default_factory=list)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        script = self.rcpt_script.get(address)
        if script:
            return script.pop(0)
        return await super().handle_RCPT(server, session, envelope, address, options)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_delay:
            await asyncio.sleep(self.data_delay)
        reply = await super().handle_DATA(server, session, envelope)
        self.arrivals.append(time.monotonic())
        if self.drop_reply_for.intersection(envelope.rcpt_tos):
            self.drop_reply_for.difference_update(envelope.rcpt_tos)
            # The message is taken, the reply never arrives: the client cannot know.
            server.transport.close()
        return reply


@contextmanager
def running(handler: RecordingHandler) -> Iterator[SmtpServer]:
    """An aiosmtpd server on loopback with ``handler`` while the block lasts."""
    port = free_port()
    controller = Controller(handler, hostname=LOOPBACK, port=port)
    controller.start()
    try:
        yield SmtpServer(LOOPBACK, port, handler)
    finally:
        controller.stop()


def received(server: SmtpServer) -> list[str]:
    """The recipients of every message the server took, in order."""
    return [rcpt for message in server.handler.messages for rcpt in message.rcpt_tos]


ROOT = Path(__file__).resolve().parent.parent
DIGEST = (sys.executable, "-m", "digest.cli")


def cli_env(secret: str = "test-secret") -> dict[str, str]:
    """The environment of a `digest` child process: this checkout, a secret key."""
    return {**os.environ, "DIGEST_SECRET_KEY": secret, "PYTHONPATH": str(ROOT)}


def run_digest(config: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """`digest --config CONFIG ARGS...` to completion, in the config's folder."""
    return subprocess.run(
        [*DIGEST, "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=cli_env(),
        cwd=config.parent,
    )
