"""A real `digest send` killed mid-send (SIGKILL) or stopped (SIGTERM), then resumed."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from digest.ledger import Ledger
from tests.conftest import SmtpServer
from tests.sendkit import (
    DIGEST,
    WEEK,
    FaultyHandler,
    cli_env,
    prepare,
    received,
    run_digest,
    running,
)

PEOPLE = 400


@pytest.fixture
def slow_server() -> Iterator[SmtpServer]:
    # A few milliseconds per DATA: the send lasts long enough to be stopped in the middle.
    with running(FaultyHandler(data_delay=0.01)) as server:
        yield server


def _config(tmp_path: Path, server: SmtpServer) -> Path:
    config = tmp_path / "digest.toml"
    config.write_text(
        f"""
[newsletter]
from_address = "lettre@example.org"
web_base_url = "https://lettre.example.org"
[smtp]
host = "{server.host}"
port = {server.port}
security = "none"
connections = 4
[database]
url = "sqlite:///ledger.db"
""",
        encoding="utf-8",
    )
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    try:
        prepare(ledger, PEOPLE)
    finally:
        ledger.close()
    return config


def _start_and_stop(config: Path, server: SmtpServer, sig: signal.Signals) -> int:
    process = subprocess.Popen(
        [*DIGEST, "--config", str(config), "send", "--week", "2025-W04"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cli_env(),
        cwd=config.parent,
    )
    deadline = time.monotonic() + 60
    while len(received(server)) < PEOPLE // 4 and time.monotonic() < deadline:
        time.sleep(0.005)
    process.send_signal(sig)
    process.communicate(timeout=60)
    return process.returncode


def _states(config: Path) -> dict[str, int]:
    ledger = Ledger(f"sqlite:///{config.parent / 'ledger.db'}")
    try:
        saved = ledger.load_issue("Toujours+", WEEK)
        assert saved is not None
        return ledger.counts(saved.id)
    finally:
        ledger.close()


def test_a_killed_send_resumes_with_nobody_missing_and_nobody_acknowledged_twice(
    tmp_path: Path, slow_server: SmtpServer
) -> None:
    config = _config(tmp_path, slow_server)
    assert _start_and_stop(config, slow_server, signal.SIGKILL) == -signal.SIGKILL
    before = Counter(received(slow_server))
    states = _states(config)
    assert 0 < states.get("sent", 0) < PEOPLE
    assert sum(states.values()) == PEOPLE
    # At most one row per connection is unconfirmed.
    assert states.get("sending", 0) <= 4

    status = run_digest(config, "status", "--week", "2025-W04")
    in_flight = re.findall(r"in flight: (\S+)", status.stdout)
    assert len(in_flight) == states.get("sending", 0)

    resumed = run_digest(config, "send", "--week", "2025-W04")
    assert resumed.returncode == 0, resumed.stderr
    after = Counter(received(slow_server))
    assert max(after.values()) == 1, "an acknowledged message was sent again"
    missing = {f"p{i:05d}@example.org" for i in range(PEOPLE)} - set(after)
    assert missing <= set(in_flight), "someone outside the in-flight rows was never sent"
    assert set(before) <= set(after)
    assert _states(config) == {"sent": PEOPLE - len(in_flight), **_sending(in_flight)}

    again = run_digest(config, "send", "--week", "2025-W04", "--resend-unconfirmed")
    assert again.returncode == 0, again.stderr
    assert set(received(slow_server)) == {f"p{i:05d}@example.org" for i in range(PEOPLE)}
    duplicates = {a for a, n in Counter(received(slow_server)).items() if n > 1}
    assert duplicates <= set(in_flight)
    assert _states(config) == {"sent": PEOPLE}


def _sending(in_flight: list[str]) -> dict[str, int]:
    return {"sending": len(in_flight)} if in_flight else {}


def test_sigterm_stops_at_a_message_boundary_and_says_how_to_resume(
    tmp_path: Path, slow_server: SmtpServer
) -> None:
    config = _config(tmp_path, slow_server)
    assert _start_and_stop(config, slow_server, signal.SIGTERM) == 1
    states = _states(config)
    assert "sending" not in states and 0 < states["sent"] < PEOPLE
    assert states["sent"] == len(received(slow_server))
    resumed = run_digest(config, "send", "--week", "2025-W04")
    assert resumed.returncode == 0, resumed.stderr
    assert sorted(received(slow_server)) == [f"p{i:05d}@example.org" for i in range(PEOPLE)]


def test_the_scheduler_resumes_a_stopped_send_and_sigterm_stops_it_at_a_boundary(
    tmp_path: Path, slow_server: SmtpServer
) -> None:
    import datetime as dt

    from digest.models import IsoWeek
    from tests.sendkit import RENDERED

    config = _config(tmp_path, slow_server)
    this_week = IsoWeek.containing(dt.datetime.now(dt.UTC), ZoneInfo("Europe/Paris"))
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    try:
        ledger.save_issue("Toujours+", this_week, 2, RENDERED, "{}", dt.datetime.now(dt.UTC))
    finally:
        ledger.close()
    started = run_digest(config, "send", "--limit", "20")
    assert started.returncode == 0, started.stderr

    def schedule() -> subprocess.Popen[str]:
        return subprocess.Popen(
            [*DIGEST, "--config", str(config), "schedule"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=cli_env(),
            cwd=config.parent,
        )

    first = schedule()
    deadline = time.monotonic() + 60
    while len(received(slow_server)) < 60 and time.monotonic() < deadline:
        time.sleep(0.05)
    first.send_signal(signal.SIGTERM)
    out, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    assert "resuming it" in out
    stopped_at = len(received(slow_server))
    assert 60 <= stopped_at < PEOPLE, "the scheduler should stop in the middle of the send"

    second = schedule()
    deadline = time.monotonic() + 120
    while len(received(slow_server)) < PEOPLE and time.monotonic() < deadline:
        time.sleep(0.1)
    second.send_signal(signal.SIGTERM)
    second.communicate(timeout=60)
    counts = Counter(received(slow_server))
    assert len(counts) == PEOPLE, "somebody was never mailed"
    assert max(counts.values()) == 1, "somebody was mailed twice"
