"""`digest send` in process against aiosmtpd: each outcome class, resumption, options."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from digest.dispatch import SendOptions
from digest.ledger import Ledger
from digest.models import DeliveryState
from digest.pipeline import write_dry_run
from tests.conftest import SmtpServer
from tests.sendkit import (
    SECRET,
    FaultyHandler,
    _now,
    make_settings,
    prepare,
    received,
    relay,
    running,
    send,
)

SENT, DEFERRED, BOUNCED = DeliveryState.SENT, DeliveryState.DEFERRED, DeliveryState.BOUNCED
FAILED, SUPPRESSED = DeliveryState.FAILED, DeliveryState.SUPPRESSED


@pytest.fixture
def server() -> Iterator[SmtpServer]:
    with running(FaultyHandler()) as smtp:
        yield smtp


@pytest.fixture
def ledger(tmp_path: Path, database_url: str) -> Iterator[Ledger]:
    ledger = Ledger(database_url)
    yield ledger
    ledger.close()


def _handler(server: SmtpServer) -> FaultyHandler:
    assert isinstance(server.handler, FaultyHandler)
    return server.handler


def test_everyone_gets_one_message_and_a_second_send_mails_nobody(
    tmp_path: Path, server: SmtpServer, ledger: Ledger
) -> None:
    settings = make_settings(tmp_path, server)
    saved = prepare(ledger, 25)
    report = send(settings, ledger, saved)
    assert report.count(SENT) == 25 and report.errors == ()
    again = send(settings, ledger, saved)
    assert again.count(SENT) == 25
    assert sorted(received(server)) == [f"p{i:05d}@example.org" for i in range(25)]


def test_unsubscribed_and_bounced_addresses_are_suppressed_never_contacted(
    tmp_path: Path, server: SmtpServer, ledger: Ledger
) -> None:
    settings = make_settings(tmp_path, server)
    saved = prepare(ledger, 6)
    send(settings, ledger, saved, SendOptions(limit=2))
    ledger.set_subscriber_status("p00003@example.org", "unsubscribed")
    ledger.set_subscriber_status("p00004@example.org", "bounced")
    report = send(settings, ledger, saved)
    assert (report.count(SENT), report.count(SUPPRESSED)) == (4, 2)
    assert not {"p00003@example.org", "p00004@example.org"} & set(received(server))


def test_a_recipient_refused_for_good_is_bounced_once_and_suppressed_later(
    tmp_path: Path, server: SmtpServer, ledger: Ledger
) -> None:
    _handler(server).rcpt_replies = {"p00001@example.org": "550 5.1.1 no such user"}
    settings = make_settings(tmp_path, server)
    saved = prepare(ledger, 3)
    report = send(settings, ledger, saved)
    assert (report.count(SENT), report.count(BOUNCED)) == (2, 1)
    statuses = {s.email: status for s, status in ledger.list_subscribers(active_only=False)}
    assert statuses["p00001@example.org"] == "bounced"
    (error,) = ledger.recent_errors(saved.id)
    assert (error.email, error.code, error.reply) == (
        "p00001@example.org",
        550,
        "5.1.1 no such user",
    )


def test_a_deferred_recipient_is_retried_with_backoff_until_accepted(
    tmp_path: Path, server: SmtpServer, ledger: Ledger
) -> None:
    _handler(server).rcpt_script = {"p00000@example.org": ["451 4.7.1 greylisted"] * 2}
    settings = make_settings(tmp_path, server)
    saved = prepare(ledger, 2)
    report = send(settings, ledger, saved)
    assert report.count(SENT) == 2
    assert received(server).count("p00000@example.org") == 1


def test_a_recipient_deferred_past_the_limit_fails_with_the_last_reply(
    tmp_path: Path, server: SmtpServer, ledger: Ledger
) -> None:
    _handler(server).rcpt_script = {"p00000@example.org": ["452 4.2.2 mailbox full"] * 10}
    settings = make_settings(tmp_path, server, delivery={"max_attempts": 3})
    saved = prepare(ledger, 1)
    report = send(settings, ledger, saved)
    assert report.count(FAILED) == 1
    assert _handler(server).rcpt_script["p00000@example.org"] == ["452 4.2.2 mailbox full"] * 7
    (error,) = ledger.recent_errors(saved.id)
    assert error.reply == "gave up after 3 attempts: 4.2.2 mailbox full"


def test_repeated_relay_refusals_pause_the_send_and_say_why(
    tmp_path: Path, server: SmtpServer, ledger: Ledger
) -> None:
    _handler(server).data_reply = "554 5.7.1 sender blocked"
    settings = make_settings(
        tmp_path, server, smtp=relay(server, connections=1), delivery={"pause_after_failures": 3}
    )
    saved = prepare(ledger, 10)
    report = send(settings, ledger, saved)
    assert (report.count(FAILED), report.count(DeliveryState.PENDING)) == (3, 7)
    assert "paused after 3 failures in a row" in report.stopped
    assert "sender blocked" in report.stopped and len(report.errors) == 3


def test_a_reply_lost_after_data_leaves_the_row_unconfirmed_until_asked(
    tmp_path: Path, server: SmtpServer, ledger: Ledger
) -> None:
    _handler(server).drop_reply_for = {"p00002@example.org"}
    settings = make_settings(tmp_path, server)
    saved = prepare(ledger, 4)
    report = send(settings, ledger, saved)
    assert (report.count(SENT), report.count(DeliveryState.SENDING)) == (3, 1)
    assert ledger.in_flight(saved.id) == ["p00002@example.org"]
    second = send(settings, ledger, saved)
    assert second.in_flight == ("p00002@example.org",)
    assert received(server).count("p00002@example.org") == 1
    third = send(settings, ledger, saved, SendOptions(resend_unconfirmed=True))
    assert third.count(SENT) == 4 and ledger.in_flight(saved.id) == []


def test_limit_and_only_send_that_many_or_those_addresses(
    tmp_path: Path, server: SmtpServer, ledger: Ledger
) -> None:
    settings = make_settings(tmp_path, server)
    saved = prepare(ledger, 10)
    assert send(settings, ledger, saved, SendOptions(limit=4)).count(SENT) == 4
    only = ("p00008@example.org", "p00009@example.org")
    assert send(settings, ledger, saved, SendOptions(only=only)).count(SENT) == 6
    assert len(received(server)) == 6 and set(only) <= set(received(server))


def test_a_dry_run_writes_the_messages_and_touches_nothing(
    tmp_path: Path, server: SmtpServer, ledger: Ledger
) -> None:
    settings = make_settings(tmp_path, server)
    saved = prepare(ledger, 5)
    out = tmp_path / "dry"
    written = write_dry_run(saved, settings, ledger, SECRET, _now, out, SendOptions(limit=3))
    assert written == 3
    assert sorted(p.name for p in out.iterdir()) == [
        f"00000{i + 1}-p0000{i}@example.org.eml" for i in range(3)
    ]
    assert b"Message-ID: <" in (out / "000001-p00000@example.org.eml").read_bytes()
    assert ledger.counts(saved.id) == {} and received(server) == []
