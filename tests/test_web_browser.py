"""A reader's whole journey in real headless Chromium against the real server on loopback.

Subscribe, get the confirmation mail, confirm, receive an issue, open its unsubscribe link,
confirm, and get nothing from the next send. Set DIGEST_SCREENSHOTS_DIR to keep screenshots
of the pages (scripts/screenshots does).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Page, sync_playwright

from digest.catcher import LOOPBACK, free_port
from digest.config import Settings
from digest.delivery import SmtpSender
from digest.ledger import Ledger
from digest.models import DeliveryState, IsoWeek, SendReport
from digest.pipeline import build_issue, send_issue
from digest.web import create_app
from digest.web.confirmation import SmtpConfirmationMailer
from tests.browser import FLAGS, chromium
from tests.conftest import SmtpServer

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "week"
SECRET = b"browser-test-secret"
NOW = dt.datetime(2025, 1, 24, 8, 0, tzinfo=dt.UTC)


def _settings(tmp_path: Path, smtp: SmtpServer, port: int, articles: Path) -> Settings:
    return Settings.model_validate(
        {
            "newsletter": {
                "name": "Toujours+",
                "from_address": "lettre@example.org",
                "web_base_url": f"http://{LOOPBACK}:{port}",
            },
            "sources": [{"name": "Fixtures", "kind": "folder", "path": str(articles)}],
            "composition": {"sections": ["Politique", "France", "Monde"]},
            "smtp": {"host": smtp.host, "port": smtp.port, "security": "none", "timeout": 5},
            "database": {"url": f"sqlite:///{tmp_path / 'journey.db'}"},
        }
    )


@pytest.fixture
def web_server(tmp_path: Path, smtp_server: SmtpServer) -> Iterator[tuple[Settings, Ledger]]:
    port = free_port()
    settings = _settings(tmp_path, smtp_server, port, FIXTURES)
    ledger = Ledger(settings.database.url)
    app = create_app(settings, ledger, SECRET, SmtpConfirmationMailer(settings.smtp), lambda: NOW)
    server = uvicorn.Server(uvicorn.Config(app, host=LOOPBACK, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the web server did not start"
    try:
        yield settings, ledger
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        ledger.close()


def _body(message: EmailMessage, kind: str) -> str:
    part = message.get_body(preferencelist=(kind,))
    assert part is not None
    return str(part.get_content())


def _send_week(settings: Settings, ledger: Ledger, week: IsoWeek) -> SendReport:
    async def run() -> SendReport:
        built = await build_issue(settings, ledger, week, NOW + dt.timedelta(weeks=1))
        sender = SmtpSender(settings.smtp)
        try:
            return await send_issue(built.saved, settings, ledger, sender, SECRET, lambda: NOW)
        finally:
            await sender.close()

    # Playwright's sync API keeps an event loop running in this thread: send from another.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, run()).result(timeout=120)


def _snap(page: Page, name: str) -> None:
    folder = os.environ.get("DIGEST_SCREENSHOTS_DIR")
    if folder:
        page.screenshot(path=str(Path(folder) / f"web-{name}.png"), full_page=True)


def test_a_reader_subscribes_confirms_reads_and_leaves_for_good(
    web_server: tuple[Settings, Ledger], smtp_server: SmtpServer, tmp_path: Path
) -> None:
    settings, ledger = web_server
    base = settings.newsletter.web_base_url
    reader = "camille@example.org"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=list(FLAGS[1:]))
        page = browser.new_page(viewport={"width": 375, "height": 800})
        page.goto(f"{base}/inscription")
        _snap(page, "inscription")
        page.fill("#email", reader)
        page.fill("#name", "Camille")
        page.click("button[type=submit]")
        assert "Vérifiez votre boîte de réception" in page.inner_text("h1")

        (confirmation,) = smtp_server.parsed(reader)
        link = re.search(rf"{re.escape(base)}/confirmation/\S+", _body(confirmation, "plain"))
        assert link is not None
        page.goto(link.group(0))
        _snap(page, "confirmation")
        page.click("button[type=submit]")
        assert "Inscription confirmée" in page.inner_text("h1")

        report = _send_week(settings, ledger, IsoWeek(2025, 4))
        assert report.count(DeliveryState.SENT) == 1
        issues = [m for m in smtp_server.parsed(reader) if "n°1" in m["Subject"]]
        assert len(issues) == 1
        unsubscribe = re.search(
            rf'href="({re.escape(base)}/desinscription/[^"]+)"', _body(issues[0], "html")
        )
        assert unsubscribe is not None
        page.goto(unsubscribe.group(1))
        _snap(page, "desinscription")
        assert "Se désinscrire" in page.inner_text("h1")
        page.click("button[type=submit]")
        assert "Désinscription enregistrée" in page.inner_text("h1")
        browser.close()

    next_week = tmp_path / "next-week"
    next_week.mkdir()
    source = (FIXTURES / "4552.md").read_text(encoding="utf-8")
    (next_week / "4552.md").write_text(
        re.sub(r"^date: .*$", "date: 2025-01-28T09:00:00+01:00", source, flags=re.M),
        encoding="utf-8",
    )
    later = settings.model_copy(
        update={"sources": (settings.sources[0].model_copy(update={"path": next_week}),)}
    )
    before = len(smtp_server.handler.messages)
    _send_week(later, ledger, IsoWeek(2025, 5))
    assert len(smtp_server.handler.messages) == before, "an unsubscribed reader got mail"
