"""Relays: weighted round-robin, failover past a dead relay, rate limits across restarts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from digest.catcher import free_port
from digest.config import RelaySettings
from digest.dispatch import SendOptions
from digest.ledger import Ledger
from digest.models import DeliveryState
from digest.ratelimit import Limits, MemoryBudget, minute_of, plan_grant
from tests.conftest import SmtpServer
from tests.sendkit import FaultyHandler, make_settings, prepare, received, relay, running, send


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    yield ledger
    ledger.close()


@pytest.fixture
def two_servers() -> Iterator[tuple[SmtpServer, SmtpServer]]:
    with running(FaultyHandler()) as first, running(FaultyHandler()) as second:
        yield first, second


def test_relays_share_the_messages_by_weight(
    tmp_path: Path, ledger: Ledger, two_servers: tuple[SmtpServer, SmtpServer]
) -> None:
    first, second = two_servers
    settings = make_settings(
        tmp_path, first, smtp=relay(first, connections=1, weight=3, name="principal")
    )
    extra = (RelaySettings(**relay(second, connections=1, weight=1, name="secours")),)
    saved = prepare(ledger, 40)
    report = send(settings, ledger, saved, extra_relays=extra)
    assert report.count(DeliveryState.SENT) == 40
    assert (len(received(first)), len(received(second))) == (30, 10)
    assert set(received(first)).isdisjoint(received(second))


def test_a_dead_relay_is_passed_over_and_nobody_is_lost(
    tmp_path: Path, ledger: Ledger, two_servers: tuple[SmtpServer, SmtpServer]
) -> None:
    _, alive = two_servers
    dead = {"host": "127.0.0.1", "port": free_port(), "security": "none", "timeout": 2}
    settings = make_settings(tmp_path, alive, smtp=dead)
    extra = (RelaySettings(**relay(alive, connections=2)),)
    saved = prepare(ledger, 12)
    report = send(settings, ledger, saved, extra_relays=extra)
    assert report.count(DeliveryState.SENT) == 12
    assert sorted(received(alive)) == [f"p{i:05d}@example.org" for i in range(12)]


def test_messages_per_second_are_spaced_on_the_relay(
    tmp_path: Path, ledger: Ledger, two_servers: tuple[SmtpServer, SmtpServer]
) -> None:
    server, _ = two_servers
    settings = make_settings(tmp_path, server, smtp=relay(server, connections=4, per_second=20))
    saved = prepare(ledger, 20)
    send(settings, ledger, saved)
    arrivals = server.handler.arrivals  # type: ignore[attr-defined]
    assert len(arrivals) == 20
    # 20 messages at 20/s: the last leaves 19 intervals after the first one's slot; the
    # margin is for a first message that arrives late on a busy machine.
    assert arrivals[-1] - arrivals[0] >= 19 * 0.05 * 0.8


def test_the_hourly_quota_counts_what_an_earlier_run_sent(
    tmp_path: Path, ledger: Ledger, two_servers: tuple[SmtpServer, SmtpServer]
) -> None:
    server, _ = two_servers
    settings = make_settings(tmp_path, server, smtp=relay(server, per_hour=5, name="quota"))
    saved = prepare(ledger, 10)
    assert send(settings, ledger, saved, SendOptions(limit=3)).count(DeliveryState.SENT) == 3
    usage = ledger.relay_usage_since(dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
    # Slots are granted a run at a time: the three sent, and the two left in that run.
    assert sum(count for _, count in usage["quota"]) == 5
    # A later limiter on the same ledger finds the quota spent and is told when it frees.
    grant = ledger.reserve("quota", 1, Limits(0, 5), dt.datetime.now(dt.UTC))
    assert grant.count == 0
    assert grant.retry_at - dt.datetime.now(dt.UTC).timestamp() > 60 * 58


def test_the_hourly_window_slides_minute_by_minute() -> None:
    now = dt.datetime(2025, 1, 24, 10, 30, 20, tzinfo=dt.UTC)
    old = minute_of(now - dt.timedelta(minutes=59))
    hour = [(old, 2), (minute_of(now), 1)]
    spent = plan_grant(0.0, now, 4, Limits(0, 3), hour)
    # The oldest bucket leaves the window an hour after its minute began: at 10:31:00.
    assert spent.count == 0
    assert spent.retry_at == (old + dt.timedelta(hours=1)).timestamp()
    later = now + dt.timedelta(seconds=41)
    assert plan_grant(0.0, later, 4, Limits(0, 3), hour).count == 2


def test_slots_are_spaced_across_grants_and_never_before_now() -> None:
    now = dt.datetime(2025, 1, 24, 10, 30, 20, tzinfo=dt.UTC)
    budget = MemoryBudget()
    first = budget.reserve("r", 5, Limits(10, 0), now)
    second = budget.reserve("r", 5, Limits(10, 0), now)
    assert (first.count, first.first, first.interval) == (5, now.timestamp(), 0.1)
    assert second.first == pytest.approx(now.timestamp() + 0.5)
    # An idle relay does not bank slots: after a pause, the next slot is now.
    much_later = now + dt.timedelta(minutes=5)
    assert budget.reserve("r", 5, Limits(10, 0), much_later).first == much_later.timestamp()


def test_a_relay_password_in_the_file_is_refused(tmp_path: Path) -> None:
    from digest.config import load_settings
    from digest.errors import ConfigError

    config = tmp_path / "digest.toml"
    config.write_text('[[sending.relays]]\nhost = "relay2"\npassword = "x"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="password_env"):
        load_settings(config)
