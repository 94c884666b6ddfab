"""Delivery over SMTP: pools of reused connections, relays with failover, one classifier."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Sequence
from typing import Protocol

from digest.config import RelaySettings, SmtpSettings
from digest.errors import DeliveryError
from digest.models import DeliveryState, Outcome
from digest.ratelimit import Budget, Limits, RateLimiter
from digest.smtpwire import Reply, SmtpRefusal, Transaction, WireConnection, WireError

PERMANENT = 500  # RFC 5321 4.2.1: 5yz is a permanent negative completion reply
TRANSIENT = 400  # 4yz: transient negative completion, try again later
DATA_GO_AHEAD = 354  # RFC 5321 4.3.2: start mail input


class Sender(Protocol):
    """Something that hands one message for one recipient to a relay."""

    async def send(self, envelope_from: str, recipient: str, message: bytes) -> Outcome: ...

    async def close(self) -> None: ...


def classify(transaction: Transaction) -> Outcome:
    """Map the relay's replies to a delivery state (DESIGN convention 6)."""
    mail, rcpt, data, end = transaction.mail, transaction.rcpt, transaction.data, transaction.end
    if not mail.ok:
        # 5xx on MAIL/DATA is the relay refusing us, not the recipient: failed.
        return _refused(mail, DeliveryState.FAILED)
    if rcpt is None or not rcpt.ok:
        return _refused(rcpt or mail, DeliveryState.BOUNCED)
    if data is None or data.code != DATA_GO_AHEAD:
        return _refused(data or rcpt, DeliveryState.FAILED)
    if end is None or not end.ok:
        return _refused(end or data, DeliveryState.FAILED)
    return Outcome(DeliveryState.SENT, end.code, end.text)


def _refused(reply: Reply, permanent: DeliveryState) -> Outcome:
    state = permanent if reply.code >= PERMANENT else DeliveryState.DEFERRED
    return Outcome(state, reply.code, reply.text)


def lost(exc: BaseException, *, committed: bool) -> Outcome:
    """A dropped connection or a timeout: deferred, or unconfirmed once the data was sent.

    RFC 5321 section 4.1.1.4 (and RFC 1047): a message lost between the final dot and the
    reply may be delivered; the row stays "sending" and is resent only on request.
    """
    if committed:
        return Outcome(DeliveryState.SENDING, None, f"unconfirmed: {_one_line(exc)}")
    return Outcome(DeliveryState.DEFERRED, None, _one_line(exc))


def unreachable(reply: str, code: int | None = None, relay: str = "") -> Outcome:
    """No relay could be reached: deferred, and not an attempt of the recipient's."""
    return Outcome(DeliveryState.DEFERRED, code, reply, relay, unreachable=True)


class RelayDown(DeliveryError):
    """A relay could not be reached or refused our login: try another one."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code  # the relay's reply code, when it answered (a 421 greeting)


class RelayRefused(RelayDown):
    """A relay refused our login (5xx on AUTH): failed, and counted toward a pause."""


class _ClosedWhileIdle(Exception):
    """A pooled connection turned out closed by the relay before anything was sent."""


class SmtpSender:
    """Sends through one relay over up to ``settings.connections`` reused connections."""

    def __init__(self, settings: SmtpSettings, limiter: RateLimiter | None = None) -> None:
        self.settings = settings
        self.label = settings.label
        self.limiter = limiter or RateLimiter(settings.label, limits_of(settings))
        self._idle: list[WireConnection] = []
        self._slots = asyncio.Semaphore(settings.connections)

    async def check(self) -> None:
        """Open one connection now, so a wrong host or password is one clear error."""
        client = await self._connect()
        self._idle.append(client)

    async def send(self, envelope_from: str, recipient: str, message: bytes) -> Outcome:
        """Send one message to one recipient and classify the answer."""
        try:
            return await self.send_or_raise(envelope_from, recipient, message)
        except RelayRefused as exc:
            return Outcome(DeliveryState.FAILED, exc.code, str(exc), self.label)
        except RelayDown as exc:
            return unreachable(str(exc), exc.code, self.label)

    async def send_or_raise(self, envelope_from: str, recipient: str, message: bytes) -> Outcome:
        """Like send, but a relay that cannot be reached raises RelayDown (for failover)."""
        async with self._slots:
            await self.limiter.acquire()
            while self._idle:
                try:
                    outcome = await self._attempt(
                        self._idle.pop(), envelope_from, recipient, message
                    )
                    break
                except _ClosedWhileIdle:
                    continue
            else:
                client = await self._connect()
                outcome = await self._attempt(client, envelope_from, recipient, message, new=True)
        return Outcome(outcome.state, outcome.code, outcome.reply, self.label)

    async def _attempt(
        self,
        client: WireConnection,
        sender: str,
        recipient: str,
        message: bytes,
        *,
        new: bool = False,
    ) -> Outcome:
        """One transaction on ``client``; it goes back to the pool if still usable.

        A relay may close an idle connection (its idle timeout, a per-connection limit):
        nothing of the message was taken then, so it raises _ClosedWhileIdle and the
        message goes on another connection rather than spending one of its attempts.
        """
        try:
            outcome = classify(await client.send(sender, recipient, message))
        except (WireError, OSError) as exc:
            client.close()
            if client.hung_up and not (new or client.committed):
                raise _ClosedWhileIdle from exc
            return lost(exc, committed=client.committed)
        if client.usable:
            self._idle.append(client)
        else:
            client.close()
        return outcome

    async def close(self) -> None:
        """Say QUIT on every idle connection."""
        while self._idle:
            client = self._idle.pop()
            try:
                await client.quit()
            except (WireError, OSError):
                client.close()

    async def _connect(self) -> WireConnection:
        s = self.settings
        where = f"{s.host}:{s.port}"
        try:
            return await WireConnection.open(s, _password(s))
        except SmtpRefusal as exc:
            if exc.command == "AUTH":
                # RFC 4954: 454 is a temporary failure (try later), 535 and 534 are not.
                refused = RelayRefused if exc.reply.code >= PERMANENT else RelayDown
                raise refused(
                    f"SMTP relay {where} refused the login of {s.username!r}: {exc} "
                    f"(check the username and {_password_variable(s)})",
                    exc.reply.code,
                ) from exc
            raise RelayDown(
                f"SMTP relay {where} refused {exc.command}: {exc} (check {_where_configured(s)})",
                exc.reply.code,
            ) from exc
        except (WireError, OSError, TimeoutError) as exc:
            raise RelayDown(
                f"cannot connect to SMTP relay {where} ({s.security}): {_one_line(exc)} "
                f"(check {_where_configured(s)})"
            ) from exc


class RelaySet:
    """Several relays: smooth weighted round-robin, and failover past one that is down."""

    def __init__(self, relays: Sequence[SmtpSender], cooldown: float = 30.0) -> None:
        if not relays:
            raise DeliveryError("no SMTP relay configured")
        self.relays = tuple(relays)
        self._cooldown = cooldown
        self._down_until = [0.0] * len(relays)
        self._current = [0] * len(relays)

    @property
    def connections(self) -> int:
        """How many messages can be in flight at once across all relays."""
        return sum(relay.settings.connections for relay in self.relays)

    async def check(self) -> None:
        """At least one relay answers; the others are set aside for a while."""
        errors = []
        for index, relay in enumerate(self.relays):
            try:
                await relay.check()
            except RelayDown as exc:
                errors.append(str(exc))
                self._down_until[index] = time.monotonic() + self._cooldown
        if len(errors) == len(self.relays):
            raise DeliveryError("; ".join(errors))

    async def send(self, envelope_from: str, recipient: str, message: bytes) -> Outcome:
        """Send through the next relay in turn; a relay that is down passes to the next."""
        errors: list[RelayDown] = []
        for _ in self.relays:
            index = self._choose()
            try:
                return await self.relays[index].send_or_raise(envelope_from, recipient, message)
            except RelayDown as exc:
                self._down_until[index] = time.monotonic() + self._cooldown
                errors.append(exc)
        reply = "no relay took the message: " + "; ".join(map(str, errors))
        if all(isinstance(exc, RelayRefused) for exc in errors):
            return Outcome(DeliveryState.FAILED, errors[-1].code, reply)
        return unreachable(reply, errors[-1].code)

    async def close(self) -> None:
        """Close every relay's idle connections."""
        for relay in self.relays:
            await relay.close()

    def _choose(self) -> int:
        # nginx's smooth weighted round-robin over the relays that are up; all down: the
        # one that comes back first.
        now = time.monotonic()
        up = [i for i, until in enumerate(self._down_until) if until <= now]
        if not up:
            return min(range(len(self.relays)), key=lambda i: self._down_until[i])
        weights = {i: self.relays[i].settings.weight for i in up}
        for i in up:
            self._current[i] += weights[i]
        best = max(up, key=lambda i: self._current[i])
        self._current[best] -= sum(weights.values())
        return best


def make_relays(
    smtp: SmtpSettings,
    extra: Sequence[RelaySettings] = (),
    budget: Budget | None = None,
    cooldown: float = 30.0,
) -> RelaySet:
    """The relays of the settings; with a budget (the ledger), their rate limits are shared
    with every other worker and honoured across restarts."""
    senders = [
        SmtpSender(s, RateLimiter(s.label, limits_of(s), budget, shared=budget is not None))
        for s in (smtp, *extra)
    ]
    return RelaySet(senders, cooldown)


def limits_of(settings: SmtpSettings) -> Limits:
    """A relay's rate limits."""
    return Limits(settings.per_second, settings.per_hour)


def _password(settings: SmtpSettings) -> str:
    if isinstance(settings, RelaySettings) and settings.password_env:
        return os.environ.get(settings.password_env, "")
    return settings.password.get_secret_value()


def _where_configured(settings: SmtpSettings) -> str:
    if isinstance(settings, RelaySettings):
        return f"host, port and security of the [[sending.relays]] entry {settings.label}"
    return "smtp.host, smtp.port and smtp.security"


def _password_variable(settings: SmtpSettings) -> str:
    if isinstance(settings, RelaySettings) and settings.password_env:
        return settings.password_env
    return "DIGEST_SMTP__PASSWORD"


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
