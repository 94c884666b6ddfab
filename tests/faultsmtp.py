"""A fault-injecting SMTP server on loopback (aiosmtpd): scripted refusals, drops and stalls.

A ``Plan`` lists, per place in the session, what the server does at its next passages
there; once a list is used up the server behaves normally. An action is a reply
(``"451 4.7.1 greylisted"``; a ``421`` reply also closes the connection, as RFC 5321
section 3.8 says a server does), ``DROP`` (close without a word), ``STALL`` (say nothing
until the client gives up), or, at the end of DATA, ``TAKE_DROP`` / ``TAKE_STALL`` (keep
the message, then lose or hold back the reply) and ``TAKE_CLOSE`` (answer, then hang up).
"""

from __future__ import annotations

import asyncio
import re
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

from digest.catcher import LOOPBACK, free_port

DROP = "drop"
STALL = "stall"
TAKE_DROP = "take+drop"
TAKE_STALL = "take+stall"
TAKE_CLOSE = "take+close"  # keep the message, answer 250, then hang up (a per-connection limit)
TLS_FAIL = "tls-fail"  # answer 220 to STARTTLS, then close instead of the handshake
TLS_STALL = "tls-stall"  # answer 220 to STARTTLS, then say nothing
LOGIN, PASSWORD = "lettre", "s3cret"
_MESSAGE_ID = re.compile(rb"^Message-ID:\s*(<[^>\r\n]*>)", re.IGNORECASE | re.MULTILINE)
_READY_TIMEOUT = 30.0


@dataclass
class Plan:
    """What the server does at its next passages through each place of a session."""

    connect: list[str] = field(default_factory=list)
    starttls: list[str] = field(default_factory=list)
    auth: list[str] = field(default_factory=list)
    # Keyed by recipient: at its RCPT, at the DATA command, after the final dot.
    rcpt: dict[str, list[str]] = field(default_factory=dict)
    data: dict[str, list[str]] = field(default_factory=dict)
    end: dict[str, list[str]] = field(default_factory=dict)
    # After this many messages taken, every later command and connection gets a 421.
    down_after: int | None = None
    stall_seconds: float = 30.0


@dataclass
class Log:
    """What the server saw: connections, every RCPT, every message it took."""

    connections: int = 0
    rcpts: list[tuple[float, str]] = field(default_factory=list)
    taken: list[tuple[str, str]] = field(default_factory=list)  # (recipient, Message-ID)

    def rcpt_times(self, address: str) -> list[float]:
        return [at for at, rcpt in self.rcpts if rcpt == address]

    def taken_by(self, address: str) -> list[str]:
        """The Message-IDs of the messages taken for ``address``."""
        return [mid for rcpt, mid in self.taken if rcpt == address]


class _Script:
    """The plan and the log, shared by the server's connections (one thread)."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.log = Log()
        self.armed = False  # the controller's own readiness probe is not scripted
        self.lock = threading.Lock()

    def next(self, steps: list[str]) -> str:
        with self.lock:
            return steps.pop(0) if self.armed and steps else ""

    def keyed(self, table: dict[str, list[str]], address: str) -> str:
        return self.next(table.get(address, []))

    @property
    def down(self) -> bool:
        limit = self.plan.down_after
        return self.armed and limit is not None and len(self.log.taken) >= limit


DOWN = "421 4.3.2 service shutting down, closing"
QUEUED = "250 2.0.0 queued as F4ULT"


class _FaultySmtp(SMTP):
    """aiosmtpd's session with the plan's faults at greeting, STARTTLS and DATA."""

    def __init__(self, handler: _Handler, **options: Any) -> None:
        super().__init__(handler, **options)
        self.script = handler.script

    async def _handle_client(self) -> None:
        if self.script.armed:
            with self.script.lock:
                self.script.log.connections += 1
        action = DOWN if self.script.down else self.script.next(self.script.plan.connect)
        if action:
            await act(self, action, self.script.plan.stall_seconds)
        else:
            await super()._handle_client()

    async def smtp_STARTTLS(self, arg: str) -> None:
        action = self.script.next(self.script.plan.starttls)
        if action:
            await self.push("220 Ready to start TLS")
            await act(self, DROP if action == TLS_FAIL else STALL, self.script.plan.stall_seconds)
            return
        await super().smtp_STARTTLS(arg)

    async def smtp_MAIL(self, arg: str | None) -> None:
        if self.script.down:
            await act(self, DOWN, 0)
            return
        await super().smtp_MAIL(arg)

    async def smtp_DATA(self, arg: str) -> None:
        rcpts = self.envelope.rcpt_tos if self.envelope is not None else []
        action = self.script.keyed(self.script.plan.data, rcpts[0]) if rcpts else ""
        if action:
            await act(self, action, self.script.plan.stall_seconds)
            return
        await super().smtp_DATA(arg)


async def act(server: Any, action: str, stall: float) -> None:
    """Carry out a scripted action in place of the normal answer."""
    transport = server.transport
    if action not in (DROP, STALL):
        await server.push(action)
        if not action.startswith("421"):
            return
    try:
        if action == STALL:
            # The client gives up and closes; that cancels this session with the sleep.
            await asyncio.sleep(stall)
    finally:
        transport.close()


@dataclass
class _Handler:
    """The handler hooks: RCPT and end-of-DATA faults, the log, and EHLO's PIPELINING."""

    script: _Script
    pipelining: bool = False

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        if self.pipelining:
            responses.insert(-1, "250-PIPELINING")
        return responses

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        with self.script.lock:
            self.script.log.rcpts.append((time.monotonic(), address))
        action = self.script.keyed(self.script.plan.rcpt, address)
        if action in (DROP, STALL):
            await act(server, action, self.script.plan.stall_seconds)
            return "451 4.3.0 unreachable"  # never seen: the connection is closed
        if action:
            if action.startswith("421"):
                _close_soon(server)
            return action
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        recipient = envelope.rcpt_tos[0]
        action = self.script.keyed(self.script.plan.end, recipient)
        if action in (DROP, STALL):
            await act(server, action, self.script.plan.stall_seconds)
            return "451 4.3.0 unreachable"
        if action and not action.startswith("take"):
            if action.startswith("421"):
                _close_soon(server)
            return action
        found = _MESSAGE_ID.search(envelope.original_content)
        with self.script.lock:
            self.script.log.taken.extend(
                (rcpt, found.group(1).decode() if found else "") for rcpt in envelope.rcpt_tos
            )
        if action == TAKE_DROP:
            await act(server, DROP, 0)
        elif action == TAKE_STALL:
            await act(server, STALL, self.script.plan.stall_seconds)
        elif action == TAKE_CLOSE:
            _close_soon(server)
        return QUEUED

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        action = self.script.next(self.script.plan.auth)
        if action:
            return AuthResult(success=False, handled=False, message=action)
        ok = isinstance(auth_data, LoginPassword) and (
            auth_data.login.decode(),
            auth_data.password.decode(),
        ) == (LOGIN, PASSWORD)
        return AuthResult(success=ok, handled=False)


def _close_soon(server: Any) -> None:
    # After the reply is written: a transport flushes its buffer before it closes.
    transport = server.transport
    server.loop.call_soon(transport.close)


class _Controller(Controller):
    def __init__(self, handler: _Handler, port: int, **options: Any) -> None:
        super().__init__(
            handler, hostname=LOOPBACK, port=port, ready_timeout=_READY_TIMEOUT, **options
        )
        self._faulty_handler = handler

    def factory(self) -> _FaultySmtp:
        return _FaultySmtp(self._faulty_handler, **self.SMTP_kwargs)


@dataclass
class FaultServer:
    """A running fault-injecting server: where it listens, its plan and what it saw."""

    host: str
    port: int
    plan: Plan
    log: Log

    def taken_count(self, address: str) -> int:
        return len(self.log.taken_by(address))


@contextmanager
def serving(
    plan: Plan,
    *,
    pipelining: bool = False,
    tls: ssl.SSLContext | None = None,
    auth: bool = False,
) -> Iterator[FaultServer]:
    """A fault-injecting server on 127.0.0.1 while the block lasts.

    ``tls`` offers STARTTLS with that context; ``auth`` takes AUTH PLAIN/LOGIN of
    ``LOGIN``/``PASSWORD`` (on a plain connection too, for the tests).
    """
    script = _Script(plan)
    handler = _Handler(script, pipelining)
    options: dict[str, Any] = {}
    if tls is not None:
        options["tls_context"] = tls
    if auth:
        options.update(authenticator=handler.authenticate, auth_require_tls=False)
    controller = _Controller(handler, free_port(), **options)
    controller.start()
    script.armed = True
    try:
        yield FaultServer(LOOPBACK, controller.port, plan, script.log)
    finally:
        controller.stop()
