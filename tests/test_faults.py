"""`digest send` against a fault-injecting relay: one recorded final state per subscriber.

Each scenario scripts the relay (tests/faultsmtp.py), sends a six-subscriber issue, and
checks every row of the ledger: its state (sent, deferred then sent, bounced, failed, or
unconfirmed when the reply to DATA was lost), its attempts, the relay's reply kept on it,
and what the relay took; then that a second send contacts nobody, and that
``--resend-unconfirmed`` delivers the unconfirmed rows.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from digest.config import RelaySettings, Settings, SmtpSettings
from digest.delivery import make_relays
from digest.dispatch import SendOptions
from digest.errors import DeliveryError
from digest.ledger import Ledger
from digest.ledger.tables import deliveries
from digest.models import DeliveryState, IsoWeek, Outcome, SavedIssue, SendReport
from digest.pipeline import send_issue
from digest.progress import describe_address
from tests.conftest import TlsFiles
from tests.faultsmtp import (
    DROP,
    LOGIN,
    PASSWORD,
    STALL,
    TAKE_CLOSE,
    TAKE_DROP,
    TAKE_STALL,
    TLS_FAIL,
    TLS_STALL,
    FaultServer,
    Plan,
    serving,
)
from tests.sendkit import NOW, RENDERED, SECRET, _now, make_settings, prepare, relay, send

SENT, SENDING, BOUNCED = DeliveryState.SENT, DeliveryState.SENDING, DeliveryState.BOUNCED
FAILED = DeliveryState.FAILED
PEOPLE = [f"p{i:05d}@example.org" for i in range(6)]
P0, P1, P2 = PEOPLE[:3]
TIMEOUT = 0.5  # seconds the client waits for a reply: the stalls outlast it
QUEUED = "2.0.0 queued as F4ULT"
GREYLISTED = "451 4.7.1 greylisted, try again later"
CLOSING = "421 4.7.0 too many errors, closing connection"


@dataclass(frozen=True)
class Expect:
    """One subscriber's row at the end of the send, and what the relay took for it."""

    state: DeliveryState = SENT
    attempts: int = 1
    reply: str = QUEUED
    code: int | None = 250
    taken: int = 1


@dataclass(frozen=True)
class Scenario:
    name: str
    plan: Callable[[], Plan]
    expect: dict[str, Expect]
    delivery: dict[str, Any] = field(default_factory=dict)


def _gave_up(reply: str, code: int | None) -> Expect:
    return Expect(FAILED, 4, f"gave up after 4 attempts: {reply}", code, 0)


SCENARIOS = [
    Scenario(
        "421 at connect",
        lambda: Plan(connect=["421 4.3.2 service not available, closing"] * 2),
        # One connection: the first two subscribers meet the refused greetings, which reach
        # no relay and so spend none of their attempts.
        {P0: Expect(attempts=1), P1: Expect(attempts=1)},
    ),
    Scenario(
        "451 on RCPT, then accepted",
        lambda: Plan(rcpt={P1: [GREYLISTED] * 2}),
        {P1: Expect(attempts=3)},
    ),
    Scenario(
        "452 on RCPT past the attempts",
        lambda: Plan(rcpt={P1: ["452 4.2.2 mailbox full"] * 9}),
        {P1: _gave_up("4.2.2 mailbox full", 452)},
    ),
    Scenario(
        "550 unknown user",
        lambda: Plan(rcpt={P1: ["550 5.1.1 user unknown"]}),
        {P1: Expect(BOUNCED, 1, "5.1.1 user unknown", 550, 0)},
    ),
    Scenario(
        "421 on RCPT, closing, each time",
        lambda: Plan(rcpt={P1: [CLOSING] * 9}),
        {P1: _gave_up("4.7.0 too many errors, closing connection", 421)},
    ),
    Scenario(
        "552 at the end of DATA",
        lambda: Plan(end={P1: ["552 5.3.4 message too big"]}),
        {P1: Expect(FAILED, 1, "5.3.4 message too big", 552, 0)},
    ),
    Scenario(
        "554 at the end of DATA",
        lambda: Plan(end={P1: ["554 5.7.1 rejected as spam"]}),
        {P1: Expect(FAILED, 1, "5.7.1 rejected as spam", 554, 0)},
    ),
    Scenario(
        "554 to the DATA command",
        lambda: Plan(data={P1: ["554 5.5.1 no valid recipients"]}),
        {P1: Expect(FAILED, 1, "5.5.1 no valid recipients", 554, 0)},
    ),
    Scenario(
        "451 at the end of DATA, then accepted",
        lambda: Plan(end={P1: ["451 4.3.0 queue full"]}),
        {P1: Expect(attempts=2)},
    ),
    Scenario(
        "connection dropped before DATA, once",
        lambda: Plan(rcpt={P1: [DROP]}),
        # Nothing was taken on the reused connection: a new one carries it at once.
        {},
    ),
    Scenario(
        "connection dropped before DATA, twice",
        lambda: Plan(rcpt={P1: [DROP, DROP]}),
        {P1: Expect(attempts=2)},
    ),
    Scenario(
        "connection dropped after DATA, message lost",
        lambda: Plan(end={P1: [DROP]}),
        {P1: Expect(SENDING, 1, "unconfirmed: connection closed by the relay", None, 0)},
    ),
    Scenario(
        "connection dropped after DATA, message taken",
        lambda: Plan(end={P1: [TAKE_DROP]}),
        {P1: Expect(SENDING, 1, "unconfirmed: connection closed by the relay", None, 1)},
    ),
    Scenario(
        "connection closed by the relay between two messages",
        lambda: Plan(end={P1: [TAKE_CLOSE]}),
        # The next subscriber goes on a new connection, not deferred by the dead one.
        {},
    ),
    Scenario(
        "stall at the greeting",
        lambda: Plan(connect=[STALL]),
        {P0: Expect(attempts=1)},
    ),
    Scenario(
        "stall before DATA",
        lambda: Plan(rcpt={P1: [STALL]}),
        {P1: Expect(attempts=2)},
    ),
    Scenario(
        "stall after DATA, message taken",
        lambda: Plan(end={P1: [TAKE_STALL]}),
        {
            P1: Expect(
                SENDING, 1, f"unconfirmed: no answer from the relay in {TIMEOUT:g} s", None, 1
            )
        },
    ),
]


def _settings(tmp_path: Path, server: FaultServer, **smtp: Any) -> Settings:
    return make_settings(
        tmp_path,
        server,
        smtp=relay(server, **{"connections": 1, "timeout": TIMEOUT, **smtp}),
        delivery={"max_attempts": 4, "retry_base_seconds": 0.05, "retry_max_seconds": 0.2},
    )


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    yield ledger
    ledger.close()


@dataclass(frozen=True)
class Row:
    state: DeliveryState
    attempts: int
    code: int | None
    reply: str


def rows(ledger: Ledger, saved: SavedIssue) -> dict[str, Row]:
    """Every delivery row of the issue, by address (one row per subscriber and issue)."""
    with ledger._engine.connect() as conn:
        found = conn.execute(
            sa.select(
                deliveries.c.email,
                deliveries.c.state,
                deliveries.c.attempts,
                deliveries.c.smtp_code,
                deliveries.c.smtp_reply,
            ).where(deliveries.c.issue_id == saved.id)
        ).all()
    return {
        r.email: Row(DeliveryState(r.state), r.attempts, r.smtp_code, r.smtp_reply) for r in found
    }


def check_rows(
    ledger: Ledger, saved: SavedIssue, server: FaultServer, want: dict[str, Expect]
) -> None:
    """Each subscriber: one row in the expected state, with the reply kept, taken as expected."""
    found = rows(ledger, saved)
    assert sorted(found) == PEOPLE
    for address in PEOPLE:
        expect, row = want.get(address, Expect()), found[address]
        assert (row.state, row.attempts, row.code) == (
            expect.state,
            expect.attempts,
            expect.code,
        ), address
        assert expect.reply in row.reply, (address, row.reply)
        assert server.taken_count(address) == expect.taken, address
        check_history(ledger, saved, address, row)
    # One Message-ID per subscriber, the same on every copy the relay took.
    for address in PEOPLE:
        assert len(set(server.log.taken_by(address))) <= 1


def check_history(ledger: Ledger, saved: SavedIssue, address: str, row: Row) -> None:
    """The refusals a row met are kept in order: a sent row's deferrals (and a reply lost
    after DATA, resent on request) before it; otherwise its last answer is the last one."""
    found = ledger.replies_to(saved.id, address)
    assert found is not None
    assert (found.state, found.attempts, found.code, found.reply) == (
        row.state.value,
        row.attempts,
        row.code,
        row.reply,
    )
    states = [reply.state for reply in found.history]
    assert [r.at for r in found.history] == sorted(r.at for r in found.history)
    if row.state is SENT:
        assert set(states) <= {"deferred", "sending"}, (address, states)
        assert len(states) >= row.attempts - 1, (address, states)
    else:
        last = found.history[-1]
        assert (last.state, last.code, last.reply) == (row.state.value, row.code, row.reply)


@pytest.mark.parametrize("pipelining", [False, True], ids=["one-by-one", "pipelined"])
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_every_subscriber_ends_in_one_recorded_state_with_the_reply_kept(
    tmp_path: Path, ledger: Ledger, scenario: Scenario, pipelining: bool
) -> None:
    with serving(
        scenario.plan(),
        pipelining=pipelining,
    ) as server:
        settings = _settings(tmp_path, server)
        saved = prepare(ledger, PEOPLE)
        report = send(settings, ledger, saved)
        check_rows(ledger, saved, server, scenario.expect)
        unconfirmed = [a for a, e in scenario.expect.items() if e.state is SENDING]
        assert ledger.in_flight(saved.id) == unconfirmed
        assert report.count(SENT) == len(PEOPLE) - len(scenario.expect) + sum(
            e.state is SENT for e in scenario.expect.values()
        )

        # A second send contacts nobody: nothing acknowledged, bounced or failed goes again.
        seen = len(server.log.rcpts)
        again = send(settings, ledger, saved)
        assert len(server.log.rcpts) == seen
        assert again.in_flight == tuple(unconfirmed)

        # The documented command sends the unconfirmed rows again, and only them.
        send(settings, ledger, saved, SendOptions(resend_unconfirmed=True))
        assert [a for _, a in server.log.rcpts[seen:]] == unconfirmed
        resent = {
            a: Expect(attempts=2, taken=e.taken + 1)
            for a, e in scenario.expect.items()
            if e.state is SENDING
        }
        check_rows(ledger, saved, server, {**scenario.expect, **resent})


def test_deferred_recipients_are_retried_with_growing_backoff(
    tmp_path: Path, ledger: Ledger
) -> None:
    with serving(Plan(rcpt={P1: [GREYLISTED] * 3})) as server:
        settings = make_settings(
            tmp_path,
            server,
            smtp=relay(server, connections=1),
            delivery={"retry_base_seconds": 0.1, "retry_max_seconds": 0.15},
        )
        saved = prepare(ledger, PEOPLE)
        send(settings, ledger, saved)
    times = server.log.rcpt_times(P1)
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    # Equal jitter: retry n waits at least half of min(base * 2**(n-1), max).
    assert len(gaps) == 3
    assert all(gap >= floor for gap, floor in zip(gaps, [0.05, 0.075, 0.075], strict=True)), gaps
    assert rows(ledger, saved)[P1] == Row(SENT, 4, 250, QUEUED)
    # The three deferrals are kept beside the row, which keeps only its last answer.
    found = ledger.replies_to(saved.id, P1)
    assert found is not None
    assert [(r.state, r.code, r.reply) for r in found.history] == [
        ("deferred", 451, "4.7.1 greylisted, try again later")
    ] * 3
    lines = describe_address(ledger, saved, P1)
    assert lines[0].startswith(f"  {P1}: sent after 4 attempt(s), ")
    assert lines[0].endswith(f": 250 {QUEUED}")
    assert len(lines) == 4
    assert all(
        re.fullmatch(
            r"    \d{4}-\d\d-\d\d \d\d:\d\d:\d\d deferred via \S+: "
            r"451 4\.7\.1 greylisted, try again later",
            line,
        )
        for line in lines[1:]
    ), lines
    assert describe_address(ledger, saved, "nobody@example.org") == [
        "  nobody@example.org: no delivery for this issue (not subscribed when it was prepared?)"
    ]


def test_mixed_faults_on_four_connections_each_end_in_their_own_state(
    tmp_path: Path, database_url: str
) -> None:
    p3, p4, p5 = PEOPLE[3:]
    plan = Plan(
        rcpt={P1: [GREYLISTED], P2: ["550 5.1.1 user unknown"], p5: [CLOSING]},
        end={p3: ["554 5.7.1 rejected as spam"], p4: [TAKE_DROP]},
    )
    ledger = Ledger(database_url)
    try:
        with serving(plan, pipelining=True) as server:
            settings = _settings(tmp_path, server, connections=4)
            settings = settings.model_copy(update={"database": {"url": database_url}})
            saved = prepare(ledger, PEOPLE)
            send(settings, ledger, saved)
            check_rows(
                ledger,
                saved,
                server,
                {
                    P1: Expect(attempts=2),
                    P2: Expect(BOUNCED, 1, "5.1.1 user unknown", 550, 0),
                    p3: Expect(FAILED, 1, "5.7.1 rejected as spam", 554, 0),
                    p4: Expect(SENDING, 1, "unconfirmed: connection closed", None, 1),
                    p5: Expect(attempts=2),
                },
            )
            assert ledger.in_flight(saved.id) == [p4]
    finally:
        ledger.close()


def test_a_bounced_address_is_never_contacted_again_even_for_the_next_issue(
    tmp_path: Path, ledger: Ledger
) -> None:
    with serving(Plan(rcpt={P1: ["550 5.1.1 user unknown"]})) as server:
        settings = _settings(tmp_path, server)
        saved = prepare(ledger, PEOPLE)
        send(settings, ledger, saved)
        send(settings, ledger, saved)
        following = ledger.save_issue("Toujours+", IsoWeek(2025, 5), 2, RENDERED, "{}", NOW)
        report = send(settings, ledger, following)
    assert len(server.log.rcpt_times(P1)) == 1
    assert report.count(SENT) == len(PEOPLE) - 1
    statuses = {s.email: status for s, status in ledger.list_subscribers(active_only=False)}
    assert statuses[P1] == "bounced"


def _send_checked(settings: Settings, ledger: Ledger, saved: SavedIssue) -> SendReport:
    """As `digest send` does: check the relays first, then send."""

    async def go() -> SendReport:
        sender = make_relays(settings.smtp, settings.sending.relays)
        try:
            await sender.check()
            return await send_issue(saved, settings, ledger, sender, SECRET, _now)
        finally:
            await sender.close()

    return asyncio.run(go())


def test_a_relay_refusing_at_the_greeting_defers_with_its_reply_code() -> None:
    async def go(server: FaultServer) -> Outcome:
        relays = make_relays(SmtpSettings(**relay(server, timeout=TIMEOUT)))
        try:
            return await relays.send("lettre@example.org", P0, b"Subject: t\r\n\r\nbody\r\n")
        finally:
            await relays.close()

    with serving(Plan(connect=["421 4.3.2 maintenance, closing"])) as server:
        outcome = asyncio.run(go(server))
    assert (outcome.state, outcome.code) == (DeliveryState.DEFERRED, 421)
    assert "refused greeting: 421 4.3.2 maintenance, closing" in outcome.reply


def test_a_rejected_login_stops_the_send_before_anyone_is_touched(
    tmp_path: Path, ledger: Ledger
) -> None:
    plan = Plan(auth=["535 5.7.8 authentication credentials invalid"])
    with serving(plan, auth=True) as server:
        settings = _settings(tmp_path, server, username=LOGIN, password=PASSWORD)
        saved = prepare(ledger, PEOPLE)
        with pytest.raises(DeliveryError, match=r"refused the login of 'lettre': 535 5\.7\.8"):
            _send_checked(settings, ledger, saved)
        assert ledger.counts(saved.id) == {} and server.log.rcpts == []
        # The relay takes the login again: the next send delivers everyone once.
        assert _send_checked(settings, ledger, saved).count(SENT) == len(PEOPLE)
        check_rows(ledger, saved, server, {})


def test_a_temporary_login_failure_defers_and_the_next_attempt_delivers(
    tmp_path: Path, ledger: Ledger
) -> None:
    plan = Plan(auth=["454 4.7.0 temporary authentication failure"])
    with serving(plan, auth=True) as server:
        settings = _settings(tmp_path, server, username=LOGIN, password=PASSWORD)
        saved = prepare(ledger, PEOPLE)
        report = send(settings, ledger, saved)
        assert report.count(SENT) == len(PEOPLE)
        check_rows(ledger, saved, server, {P0: Expect(attempts=1)})


@pytest.mark.parametrize("fault", [TLS_FAIL, TLS_STALL])
def test_a_failed_tls_handshake_defers_and_the_next_connection_delivers(
    tmp_path: Path, ledger: Ledger, tls_files: TlsFiles, fault: str
) -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tls_files.cert, tls_files.key)
    with serving(Plan(starttls=[fault]), tls=context) as server:
        settings = _settings(tmp_path, server, security="starttls", ca_file=tls_files.cert)
        saved = prepare(ledger, PEOPLE)
        report = send(settings, ledger, saved)
        assert report.count(SENT) == len(PEOPLE)
        check_rows(ledger, saved, server, {P0: Expect(attempts=1)})


def test_a_relay_that_goes_down_mid_send_leaves_the_rest_to_the_other(
    tmp_path: Path, ledger: Ledger
) -> None:
    with serving(Plan(down_after=2)) as failing, serving(Plan()) as working:
        settings = _settings(tmp_path, failing, name="principal")
        extra = (RelaySettings(**relay(working, connections=1, timeout=TIMEOUT, name="secours")),)
        people = [f"p{i:05d}@example.org" for i in range(12)]
        saved = prepare(ledger, people)
        report = send(settings, ledger, saved, extra_relays=extra)
        assert report.count(SENT) == len(people)
        taken = [a for a, _ in failing.log.taken] + [a for a, _ in working.log.taken]
        assert sorted(taken) == people, "someone was lost or taken twice"
        assert len(failing.log.taken) == 2
        found = rows(ledger, saved)
        # At most the one message that met the relay's 421 was deferred, and it kept going.
        assert sum(row.attempts for row in found.values()) <= len(people) + 1
        assert {row.state for row in found.values()} == {SENT}
