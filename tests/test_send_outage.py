"""A relay outage spends nobody's attempts: the send pauses, and a later send delivers.

An answer that comes from no relay (connection refused, 421 greeting, 454 on AUTH) says
nothing about the recipient: it must not count toward ``max_attempts``, or an outage longer
than the retry series would fail the whole rest of the list for good.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from digest.catcher import free_port
from digest.config import Settings, SmtpSettings
from digest.delivery import SmtpSender, make_relays
from digest.ledger import Ledger
from digest.ledger.tables import deliveries
from digest.models import DeliveryState, SavedIssue
from tests.faultsmtp import LOGIN, PASSWORD, FaultServer, Plan, serving
from tests.sendkit import make_settings, prepare, relay, send

PEOPLE = [f"p{i:05d}@example.org" for i in range(6)]
REFUSED = "421 4.3.2 service not available, closing"
SENT, DEFERRED = DeliveryState.SENT, DeliveryState.DEFERRED


@pytest.fixture
def ledger(database_url: str) -> Iterator[Ledger]:
    ledger = Ledger(database_url)
    yield ledger
    ledger.close()


def _settings(tmp_path: Path, smtp: dict[str, Any], *, pause: int, attempts: int) -> Settings:
    return make_settings(
        tmp_path,
        None,
        smtp={"connections": 1, **smtp},
        delivery={
            "max_attempts": attempts,
            "pause_after_failures": pause,
            "retry_base_seconds": 0.01,
            "retry_max_seconds": 0.02,
        },
    )


def _attempts(ledger: Ledger, saved: SavedIssue) -> dict[str, tuple[str, int]]:
    with ledger._engine.connect() as conn:
        found = conn.execute(
            sa.select(deliveries.c.email, deliveries.c.state, deliveries.c.attempts).where(
                deliveries.c.issue_id == saved.id
            )
        ).all()
    return {r.email: (r.state, r.attempts) for r in found}


def _delivered_once(ledger: Ledger, saved: SavedIssue, server: FaultServer) -> None:
    assert _attempts(ledger, saved) == {a: (SENT.value, 1) for a in PEOPLE}
    assert sorted(a for a, _ in server.log.taken) == PEOPLE


def test_refused_greetings_outlasting_the_attempts_fail_nobody(
    tmp_path: Path, ledger: Ledger
) -> None:
    # Eight refused greetings against two attempts per subscriber: each counted, the first
    # subscribers would have been given up after two of them.
    with serving(Plan(connect=[REFUSED] * 8)) as server:
        settings = _settings(tmp_path, relay(server), pause=50, attempts=2)
        saved = prepare(ledger, PEOPLE)
        report = send(settings, ledger, saved)
        assert report.stopped == ""
        assert report.count(SENT) == len(PEOPLE)
        _delivered_once(ledger, saved, server)
        assert server.log.connections >= 9


def test_an_outage_pauses_the_send_and_the_next_send_delivers_everyone(
    tmp_path: Path, ledger: Ledger
) -> None:
    with serving(Plan(connect=[REFUSED] * 3)) as server:
        settings = _settings(tmp_path, relay(server), pause=3, attempts=2)
        saved = prepare(ledger, PEOPLE)
        report = send(settings, ledger, saved)
        assert report.stopped.startswith("no SMTP relay reachable (no relay took the message: ")
        assert "run 'digest send' again once the relay is back" in report.stopped
        assert "\n" not in report.stopped
        rows = _attempts(ledger, saved)
        # Nothing failed, nothing counted: the refused rows wait as deferred.
        assert {state for state, _ in rows.values()} <= {DEFERRED.value, "pending"}
        assert [a for a, (state, _) in rows.items() if state == DEFERRED.value] == PEOPLE[:3]
        assert {attempts for _, attempts in rows.values()} == {0}
        assert server.log.taken == []

        again = send(settings, ledger, saved)
        assert again.stopped == ""
        _delivered_once(ledger, saved, server)


def test_a_closed_port_then_a_live_relay_delivers_everyone_once(
    tmp_path: Path, ledger: Ledger
) -> None:
    dead = {"host": "127.0.0.1", "port": free_port(), "security": "none", "timeout": 2}
    saved = prepare(ledger, PEOPLE)
    for _ in range(3):
        report = send(_settings(tmp_path, dead, pause=2, attempts=1), ledger, saved)
        assert report.stopped.startswith("no SMTP relay reachable")
    assert {attempts for _, attempts in _attempts(ledger, saved).values()} == {0}
    assert report.count(DeliveryState.FAILED) == 0
    with serving(Plan()) as server:
        report = send(_settings(tmp_path, relay(server), pause=2, attempts=1), ledger, saved)
        assert report.stopped == ""
        _delivered_once(ledger, saved, server)


def test_a_temporary_login_failure_on_every_connection_is_an_outage(
    tmp_path: Path, ledger: Ledger
) -> None:
    plan = Plan(auth=["454 4.7.0 temporary authentication failure"] * 4)
    with serving(plan, auth=True) as server:
        smtp = relay(server, username=LOGIN, password=PASSWORD)
        settings = _settings(tmp_path, smtp, pause=4, attempts=1)
        saved = prepare(ledger, PEOPLE)
        assert send(settings, ledger, saved).stopped.startswith("no SMTP relay reachable")
        assert send(settings, ledger, saved).stopped == ""
        _delivered_once(ledger, saved, server)


def test_an_unreachable_relay_is_marked_so_and_a_refused_login_is_not() -> None:
    async def go(smtp: SmtpSettings) -> tuple[bool, bool]:
        alone, relays = SmtpSender(smtp), make_relays(smtp)
        try:
            first = await alone.send("lettre@example.org", PEOPLE[0], b"Subject: t\r\n\r\nx\r\n")
            both = await relays.send("lettre@example.org", PEOPLE[0], b"Subject: t\r\n\r\nx\r\n")
        finally:
            await alone.close()
            await relays.close()
        assert first.state is both.state
        return first.unreachable, both.unreachable

    dead = SmtpSettings(host="127.0.0.1", port=free_port(), security="none", timeout=2)
    assert asyncio.run(go(dead)) == (True, True)
    plan = Plan(auth=["535 5.7.8 authentication credentials invalid"] * 2)
    with serving(plan, auth=True) as server:
        smtp = SmtpSettings(**relay(server, username=LOGIN, password=PASSWORD))
        assert asyncio.run(go(smtp)) == (False, False)
