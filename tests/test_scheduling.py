"""The weekly rhythm: triggers across DST and year ends, the jobs' decisions, one scheduler."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from digest.config import Settings
from digest.delivery import Sender, SmtpSender
from digest.ledger import Ledger
from digest.models import IsoWeek, Subscriber
from digest.scheduling import (
    LEASE,
    WeeklyJobs,
    _make_scheduler,
    make_trigger,
    next_run_times,
    run_job,
    run_scheduler,
)
from tests.conftest import SmtpServer

PARIS = ZoneInfo("Europe/Paris")
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "week"
SECRET = b"schedule-test-secret"
THURSDAY = dt.datetime(2025, 1, 23, 18, 0, tzinfo=PARIS)


def settings_for(
    tmp_path: Path, smtp: SmtpServer, min_articles: int = 3, **schedule: object
) -> Settings:
    return Settings.model_validate(
        {
            "preview_recipients": ["redaction@example.org"],
            "newsletter": {
                "name": "Toujours+",
                "from_address": "lettre@example.org",
                "web_base_url": "https://lettre.example.org",
            },
            "sources": [{"name": "Fixtures", "kind": "folder", "path": str(FIXTURES)}],
            "composition": {"sections": ["Politique", "France", "Monde"]},
            "smtp": {"host": smtp.host, "port": smtp.port, "security": "none", "timeout": 5},
            "database": {"url": f"sqlite:///{tmp_path / 'schedule.db'}"},
            "schedule": schedule,
            "gather": {"min_articles": min_articles},
        }
    )


@pytest.mark.parametrize(
    ("now", "expected_utc"),
    [
        # The Friday before the spring change is at UTC+1, the one after at UTC+2.
        (dt.datetime(2025, 3, 27, 12, 0, tzinfo=PARIS), dt.datetime(2025, 3, 28, 6, 0)),
        (dt.datetime(2025, 3, 28, 8, 0, tzinfo=PARIS), dt.datetime(2025, 4, 4, 5, 0)),
        # And back in autumn.
        (dt.datetime(2025, 10, 24, 8, 0, tzinfo=PARIS), dt.datetime(2025, 10, 31, 6, 0)),
        # Over the year end.
        (dt.datetime(2025, 12, 27, 9, 0, tzinfo=PARIS), dt.datetime(2026, 1, 2, 6, 0)),
    ],
)
def test_the_send_fires_at_seven_paris_time_whatever_the_offset(
    tmp_path: Path, smtp_server: SmtpServer, now: dt.datetime, expected_utc: dt.datetime
) -> None:
    settings = settings_for(tmp_path, smtp_server, send="fri 07:00")
    fire = next_run_times(settings, now)["send"]
    assert fire.astimezone(dt.UTC).replace(tzinfo=None) == expected_utc
    assert (fire.hour, fire.minute, fire.strftime("%a")) == (7, 0, "Fri")


@dataclass
class Week:
    jobs: WeeklyJobs
    ledger: Ledger
    smtp: SmtpServer
    lines: list[str]


class Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def week(tmp_path: Path, smtp_server: SmtpServer) -> Iterator[Week]:
    yield from _week(settings_for(tmp_path, smtp_server), smtp_server)


def _week(settings: Settings, smtp: SmtpServer) -> Iterator[Week]:
    ledger = Ledger(settings.database.url)
    ledger.add_subscribers(
        [Subscriber("claire@example.org", "Claire"), Subscriber("karim@example.org", "Karim")],
        THURSDAY,
    )
    lines: list[str] = []

    async def open_sender() -> Sender:
        sender = SmtpSender(settings.smtp)
        await sender.check()
        return sender

    jobs = WeeklyJobs(settings, ledger, SECRET, open_sender, Clock(THURSDAY), lines.append)
    yield Week(jobs, ledger, smtp, lines)
    ledger.close()


def _html(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())


def _without_personal_links(html: str) -> str:
    slots = r"/(desinscription|preferences)(/[A-Za-z0-9_.-]+)?|Bonjour[^<]*,"
    return re.sub(slots, "<slot>", html)


def test_build_preview_send_then_never_again(week: Week) -> None:
    asyncio.run(week.jobs.build())
    asyncio.run(week.jobs.preview())
    (preview,) = week.smtp.parsed("redaction@example.org")
    assert preview["Subject"].startswith("[Aperçu] Toujours+ n°1")
    asyncio.run(week.jobs.send())
    (claire,) = week.smtp.parsed("claire@example.org")
    assert claire["Subject"] == preview["Subject"].removeprefix("[Aperçu] ")
    assert _without_personal_links(_html(claire)) == _without_personal_links(_html(preview))
    before = len(week.smtp.handler.messages)
    asyncio.run(week.jobs.send())
    asyncio.run(week.jobs.build())
    assert len(week.smtp.handler.messages) == before
    assert "already sent" in week.lines[-2]
    assert "sending already began" in week.lines[-1]


def test_a_held_week_is_not_sent_until_released(week: Week) -> None:
    asyncio.run(week.jobs.build())
    week.ledger.set_held("Toujours+", IsoWeek(2025, 4), True, THURSDAY)
    asyncio.run(week.jobs.send())
    assert week.smtp.parsed("claire@example.org") == []
    assert "held by an editor" in week.lines[-1]
    week.ledger.set_held("Toujours+", IsoWeek(2025, 4), False, THURSDAY)
    asyncio.run(week.jobs.send())
    assert len(week.smtp.parsed("claire@example.org")) == 1


def test_a_thin_week_is_not_sent_and_the_editors_are_told(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    for week in _week(settings_for(tmp_path, smtp_server, min_articles=50), smtp_server):
        asyncio.run(week.jobs.build())
        asyncio.run(week.jobs.send())
        assert week.smtp.parsed("claire@example.org") == []
        (notice,) = week.smtp.parsed("redaction@example.org")
        assert "semaine trop mince" in notice["Subject"]
        state = week.ledger.week_state("Toujours+", IsoWeek(2025, 4))
        assert state.notice.startswith("semaine trop mince")


def test_a_send_without_a_built_issue_is_reported_not_invented(week: Week) -> None:
    asyncio.run(week.jobs.send())
    assert week.smtp.parsed("claire@example.org") == []
    assert "aucun numéro construit" in week.lines[-1]


def test_one_lease_holder_at_a_time_and_a_dead_holder_expires(tmp_path: Path) -> None:
    ledger = Ledger(f"sqlite:///{tmp_path / 'lease.db'}")
    ttl = dt.timedelta(seconds=60)
    assert ledger.acquire_lease(LEASE, "a", THURSDAY, ttl)
    assert not ledger.acquire_lease(LEASE, "b", THURSDAY + dt.timedelta(seconds=30), ttl)
    assert ledger.acquire_lease(LEASE, "a", THURSDAY + dt.timedelta(seconds=30), ttl)
    assert ledger.lease_holder(LEASE, THURSDAY + dt.timedelta(seconds=60)) == "a"
    assert ledger.acquire_lease(LEASE, "b", THURSDAY + dt.timedelta(seconds=91), ttl)
    ledger.release_lease(LEASE, "b")
    assert ledger.lease_holder(LEASE, THURSDAY + dt.timedelta(seconds=92)) is None
    ledger.close()


def _start_scheduler(config: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "DIGEST_SECRET_KEY": "schedule-subprocess-secret"}
    return subprocess.Popen(
        [sys.executable, "-m", "digest.cli", "--config", str(config), "schedule"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=config.parent,
    )


def _wait_for(process: subprocess.Popen[str], text: str, seconds: float = 30) -> str:
    assert process.stdout is not None
    seen = ""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        seen += line
        if text in line:
            return seen
        if not line and process.poll() is not None:
            break
    raise AssertionError(f"{text!r} never printed; output: {seen}")


def test_a_second_scheduler_refuses_and_sigterm_stops_the_first_cleanly(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    config = tmp_path / "digest.toml"
    config.write_text(
        f'[newsletter]\nname = "Toujours+"\n[smtp]\nhost = "{smtp_server.host}"\n'
        f'port = {smtp_server.port}\nsecurity = "none"\n'
        '[database]\nurl = "sqlite:///schedule.db"\n',
        encoding="utf-8",
    )
    first = _start_scheduler(config)
    try:
        started = _wait_for(first, "next send:")
        assert "next build:" in started and "next preview:" in started
        second = _start_scheduler(config)
        _, error = second.communicate(timeout=60)
        assert second.returncode == 1
        assert "a scheduler already runs on this database" in error
        first.send_signal(signal.SIGTERM)
        out, _ = first.communicate(timeout=60)
        assert first.returncode == 0
        assert "scheduler stopped" in out
    finally:
        if first.poll() is None:
            first.kill()
            first.communicate()
    third = _start_scheduler(config)
    _wait_for(third, "next send:")
    third.send_signal(signal.SIGINT)
    third.communicate(timeout=60)
    assert third.returncode == 0, "a cleanly stopped scheduler must free the lease"


def _prime_missed_send(settings: Settings, due: dt.datetime) -> None:
    """Leave in the job store a send that was due at ``due`` (the machine was down)."""

    async def prime() -> None:
        scheduler = _make_scheduler(settings)
        scheduler.start(paused=True)
        scheduler.add_job(
            run_job,
            make_trigger(settings.schedule.send, PARIS),
            args=["send"],
            id="send",
            next_run_time=due,
        )
        scheduler.shutdown(wait=False)

    asyncio.run(prime())


def _run_scheduler_for(week: Week, seconds: float) -> None:
    async def run() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(seconds, stop.set)
        await run_scheduler(week.jobs, stop)

    asyncio.run(run())


@pytest.mark.parametrize(("late_minutes", "sent"), [(20, True), (300, False)])
def test_a_missed_send_runs_within_the_grace_and_is_reported_beyond_it(
    tmp_path: Path, smtp_server: SmtpServer, late_minutes: int, sent: bool
) -> None:
    # The regular send falls three days from now: no run of it lies between the missed one
    # and now, whatever the day the test runs.
    day = (dt.datetime.now(PARIS) + dt.timedelta(days=3)).strftime("%a").lower()
    settings = settings_for(tmp_path, smtp_server, misfire_grace_minutes=180, send=f"{day} 07:00")
    for week in _week(settings, smtp_server):
        asyncio.run(week.jobs.build())
        _prime_missed_send(settings, dt.datetime.now(dt.UTC) - dt.timedelta(minutes=late_minutes))
        _run_scheduler_for(week, 3.0)
        assert bool(week.smtp.parsed("claire@example.org")) is sent
        notice = week.ledger.week_state("Toujours+", IsoWeek(2025, 4)).notice
        assert ("à faire à la main" in notice) is not sent


def test_status_tells_the_weeks_state_and_the_next_runs(week: Week) -> None:
    from digest.scheduling import describe_week

    w04 = IsoWeek(2025, 4)
    settings = week.jobs.settings
    (first, *runs) = describe_week(settings, week.ledger, w04, THURSDAY)
    assert first == "week 2025-W04: not built"
    assert [line.split()[1] for line in runs] == ["build", "preview", "send"]
    assert "Fri 2025-01-24 07:00 CET" in runs[2]
    asyncio.run(week.jobs.build())
    asyncio.run(week.jobs.preview())
    week.ledger.set_held("Toujours+", w04, True, THURSDAY)
    held = describe_week(settings, week.ledger, w04, THURSDAY)[0]
    assert "built " in held and "previewed " in held and "held" in held
    week.ledger.set_held("Toujours+", w04, False, THURSDAY)
    asyncio.run(week.jobs.send())
    assert describe_week(settings, week.ledger, w04, THURSDAY)[0].endswith(", sent")
