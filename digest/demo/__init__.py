"""The demo: the whole weekly job on bundled articles, delivered to a local mail catcher.

It lays out a working folder (articles re-dated into the week in progress, the week's
editor's note, a config, a fresh ledger), builds the issue, and sends it to the sample
subscribers through an SMTP server on loopback that keeps every message as files.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

from digest.catcher import LOOPBACK, MailCatcher
from digest.config import Settings, load_settings
from digest.delivery import SmtpSender
from digest.ledger import Ledger
from digest.models import IsoWeek, SendReport
from digest.pipeline import BuildResult, build_issue, send_issue, write_build
from digest.resources import bundled_dir, demo_dir
from digest.subscribers import read_subscriber_csv

_MD_DATE = re.compile(r"^date:.*$", re.MULTILINE)
_SAVED_PAGE_DATE = re.compile(r"\bdate \d{4}-\d{2}(-\d{2})?")


@dataclass(frozen=True, slots=True)
class DemoResult:
    """Where the demo put things, and what happened."""

    workdir: Path
    issue_dir: Path
    mailbox: Path
    build: BuildResult
    report: SendReport
    received: int


def run_demo(workdir: Path, now: dt.datetime) -> DemoResult:
    """Prepare ``workdir``, build this week's issue and deliver it to the mail catcher."""
    config = prepare_workdir(workdir, now)
    settings = load_settings(config)
    secret = demo_secret(workdir, settings)
    week = IsoWeek.containing(now, settings.newsletter.zone)
    mailbox = workdir / "mailbox"
    shutil.rmtree(mailbox, ignore_errors=True)
    with MailCatcher(mailbox) as catcher:
        settings = _with_catcher(settings, catcher.port)
        ledger = Ledger(settings.database.url)
        try:
            people, _ = read_subscriber_csv(demo_dir() / "subscribers.csv")
            ledger.add_subscribers(people, now)
            build = asyncio.run(build_issue(settings, ledger, week, now))
            issue_dir = workdir / "issue"
            write_build(build, settings, secret, issue_dir, now)
            report = asyncio.run(_deliver(build, settings, ledger, secret, now))
        finally:
            ledger.close()
        received = catcher.received
    return DemoResult(workdir, issue_dir, mailbox, build, report, received)


def prepare_workdir(workdir: Path, now: dt.datetime) -> Path:
    """Lay out articles, the editor's note, a config and an empty ledger; return the config."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "digest.toml"
    shutil.copyfile(bundled_dir("config") / "demo.toml", config)
    zone = load_settings(config).newsletter.zone
    week = IsoWeek.containing(now, zone)
    _copy_articles(workdir / "articles", week.start(zone), now)
    notes = workdir / "notes"
    notes.mkdir(exist_ok=True)
    shutil.copyfile(demo_dir() / "editor-note.md", notes / f"{week}.md")
    for leftover in workdir.glob("digest.db*"):
        leftover.unlink()
    return config


def _copy_articles(target: Path, start: dt.datetime, now: dt.datetime) -> None:
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    sources = sorted(p for p in (demo_dir() / "articles").iterdir() if p.suffix in {".md", ".txt"})
    # Spread the articles over the week so far, oldest first, none in the future.
    span = (now - start) / (len(sources) + 1)
    for index, source in enumerate(sources, start=1):
        moment = (start + span * index).replace(microsecond=0)
        text = source.read_text(encoding="utf-8")
        (target / source.name).write_text(redate(text, source.suffix, moment), encoding="utf-8")


def redate(text: str, suffix: str, moment: dt.datetime) -> str:
    """The article with its date replaced by ``moment`` (a saved page keeps its month form)."""
    if suffix == ".md":
        return _MD_DATE.sub(f"date: {moment.isoformat()}", text, count=1)
    return _SAVED_PAGE_DATE.sub(f"date {moment:%Y-%m}", text, count=1)


def demo_secret(workdir: Path, settings: Settings) -> bytes:
    """DIGEST_SECRET_KEY when set, else a key created once and kept in the demo folder."""
    configured = settings.secret_key.get_secret_value()
    if configured:
        return configured.encode()
    keyfile = workdir / "secret.key"
    if not keyfile.exists():
        keyfile.touch(mode=0o600)
        keyfile.write_text(secrets.token_urlsafe(32), encoding="utf-8")
    return keyfile.read_text(encoding="utf-8").strip().encode()


def _with_catcher(settings: Settings, port: int) -> Settings:
    smtp = settings.smtp.model_copy(update={"host": LOOPBACK, "port": port, "security": "none"})
    return settings.model_copy(update={"smtp": smtp})


async def _deliver(
    build: BuildResult, settings: Settings, ledger: Ledger, secret: bytes, now: dt.datetime
) -> SendReport:
    sender = SmtpSender(settings.smtp)
    try:
        await sender.check()
        return await send_issue(build.saved, settings, ledger, sender, secret, lambda: now)
    finally:
        await sender.close()
