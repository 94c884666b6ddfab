"""A lean SMTP client connection for the send path: one message, one recipient, pipelined.

aiosmtplib runs two regular expressions over every message it sends (line endings and
dot-stuffing) and waits for each reply in turn. Here MAIL, RCPT and DATA go in one write
when the relay offers PIPELINING (RFC 2920); replies are parsed by an asyncio protocol as
they arrive, so waiting for one costs a future and a timer, not a task; and a message built
by `digest.messages` comes as `SmtpData`, already in its DATA form, so its 75 KB are not
scanned again before they leave.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import re
import ssl
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from digest.config import SmtpSettings
from digest.errors import ConfigError

_LONE_LF = re.compile(rb"(?<!\r)\n")
_END_OF_DATA = b".\r\n"
# RFC 5321 section 4.5.3.1.5 allows 512 octets for a reply line; this is far past any relay.
_LONGEST_LINE = 65536


class WireError(Exception):
    """The relay closed, timed out or answered what SMTP does not allow."""


@dataclass(frozen=True, slots=True)
class Reply:
    """One SMTP reply: its code and its text, lines joined."""

    code: int
    text: str

    @property
    def ok(self) -> bool:
        return 200 <= self.code < 400


class SmtpRefusal(Exception):
    """A negative reply during setup (STARTTLS, AUTH)."""

    def __init__(self, command: str, reply: Reply) -> None:
        super().__init__(f"{reply.code} {reply.text}")
        self.command = command
        self.reply = reply


@dataclass(frozen=True, slots=True)
class Transaction:
    """The replies of one message's transaction; None where the command was not reached."""

    mail: Reply
    rcpt: Reply | None = None
    data: Reply | None = None
    end: Reply | None = None


class SmtpData(bytes):
    """Message bytes whose maker vouches for their form, so they are sent without a scan.

    The content has CRLF line endings only (no lone CR or LF) and ends with CRLF;
    ``stuffed`` is the same content with every line's leading dot doubled (RFC 5321
    section 4.5.2), or None when no line starts with a dot. `digest.messages` makes
    these; anything else (plain bytes, a DKIM-signed copy) goes through `stuffed`.
    """

    stuffed: bytes | None

    def __new__(cls, content: bytes, stuffed: bytes | None) -> SmtpData:
        data = super().__new__(cls, content)
        data.stuffed = stuffed
        return data


def stuffed(message: bytes) -> bytes:
    """The message as DATA content: CRLF lines, leading dots doubled, ending ``.``."""
    return _data_lines(message) + _END_OF_DATA


def _data_lines(message: bytes) -> bytes:
    """The message as DATA lines (CRLF, leading dots doubled), without the final ``.``."""
    if type(message) is SmtpData:
        return message if message.stuffed is None else message.stuffed
    if message.count(b"\n") != message.count(b"\r\n"):
        message = _LONE_LF.sub(b"\r\n", message)
    if not message.endswith(b"\r\n"):
        message += b"\r\n"
    body = message.replace(b"\r\n.", b"\r\n..")  # RFC 5321 section 4.5.2
    return b"." + body if body.startswith(b".") else body


class _Replies(asyncio.Protocol):
    """The relay's side of one connection: replies parsed as they come, and flow control."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.replies: deque[Reply] = deque()
        self.failure = ""  # why no more replies will come, once that is known
        self.closed = self._loop.create_future()
        self._partial = b""
        self._lines: list[str] = []
        self._waiter: asyncio.Future[None] | None = None
        self._paused = False

    def data_received(self, data: bytes) -> None:
        if self.failure:
            return
        if self._partial:
            data = self._partial + data
        start = 0
        while (end := data.find(b"\n", start)) >= 0:
            line = data[start : end + 1]
            start = end + 1
            if len(line) < 4 or not line[:3].isdigit():
                self._fail("bad reply")
                return
            self._lines.append(line[4:].decode("utf-8", "replace").rstrip())
            if line[3:4] != b"-":
                self.replies.append(Reply(int(line[:3]), "\n".join(self._lines)))
                self._lines = []
        self._partial = data[start:]
        if len(self._partial) > _LONGEST_LINE:
            self._fail("bad reply")
        elif self.replies:
            self._wake()

    def eof_received(self) -> None:
        self._fail("bad reply" if self._partial else "connection closed by the relay")

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None:
            self._fail(f"connection lost: {exc}")
        self._fail("bad reply" if self._partial else "connection closed by the relay")
        if not self.closed.done():
            self.closed.set_result(None)

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        self._wake()

    async def arrival(self, seconds: float) -> None:
        """Until a reply is queued or the connection failed; WireError after ``seconds``."""
        if not self.replies and not self.failure:
            await self._until(
                lambda: bool(self.replies) or bool(self.failure),
                seconds,
                f"no answer from the relay in {seconds:g} s",
            )

    async def drained(self, seconds: float) -> None:
        """Until the transport takes writes again (or the connection failed)."""
        if self._paused and not self.failure:
            await self._until(
                lambda: not self._paused or bool(self.failure),
                seconds,
                f"connection lost while sending: nothing taken in {seconds:g} s",
            )

    async def _until(self, ready: Callable[[], bool], seconds: float, late: str) -> None:
        """Wait until ``ready()``; WireError(``late``) if that takes longer than ``seconds``."""
        timer = self._loop.call_later(seconds, self._expire, late)
        try:
            while not ready():
                self._waiter = self._loop.create_future()
                await self._waiter
        finally:
            timer.cancel()
            self._waiter = None

    def _expire(self, late: str) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(WireError(late))

    def _fail(self, reason: str) -> None:
        if not self.failure:
            self.failure = reason
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


class WireConnection:
    """An open, greeted (and possibly TLS, logged-in) connection to one relay."""

    def __init__(self, transport: asyncio.Transport, replies: _Replies) -> None:
        self._transport = transport
        self._replies = replies
        # After STARTTLS the TLS transport is used; the socket's own transport is kept to
        # be closed too, or a failed handshake leaves the socket open.
        self._raw = transport
        self._timeout = 30.0
        self._sender = ("", b"")  # the last envelope sender, and its bytes
        self.pipelining = False
        self.committed = False
        # False once the relay hung up after a refusal: the refusal stands, the connection goes.
        self.usable = True

    @classmethod
    async def open(cls, settings: SmtpSettings, password: str) -> WireConnection:
        """Connect, greet, STARTTLS or TLS as configured, and log in; raises on refusal."""
        context = _tls_context(settings) if settings.security != "none" else None
        transport, replies = await asyncio.wait_for(
            asyncio.get_running_loop().create_connection(
                _Replies,
                settings.host,
                settings.port,
                ssl=context if settings.security == "tls" else None,
            ),
            settings.timeout,
        )
        connection = cls(transport, replies)
        connection._timeout = settings.timeout
        try:
            await connection._setup(settings, password, context)
        except BaseException:
            await connection.aclose()
            raise
        return connection

    async def _setup(
        self, settings: SmtpSettings, password: str, context: ssl.SSLContext | None
    ) -> None:
        await self._expect("greeting", await self._read())
        extensions = await self._ehlo()
        if settings.security == "starttls":
            await self._command("STARTTLS", b"STARTTLS\r\n")
            assert context is not None
            tls = await asyncio.get_running_loop().start_tls(
                self._raw,
                self._replies,
                context,
                server_hostname=settings.host,
                ssl_handshake_timeout=settings.timeout,
            )
            if tls is None:
                raise WireError("the TLS handshake did not complete")
            self._transport = tls
            extensions = await self._ehlo()
        if settings.username:
            if settings.security == "none" and not settings.allow_plain_auth:
                raise ConfigError(
                    f"refusing to send the login to {settings.host} without TLS "
                    "(set smtp.security, or smtp.allow_plain_auth for a local relay)"
                )
            token = base64.b64encode(f"\0{settings.username}\0{password}".encode()).decode()
            await self._command("AUTH", f"AUTH PLAIN {token}\r\n".encode())
        self.pipelining = "PIPELINING" in extensions

    async def send(self, envelope_from: str, recipient: str, message: bytes) -> Transaction:
        """MAIL, RCPT, DATA and the message; stops at the first refusal (then RSET)."""
        if self._sender[0] != envelope_from:
            self._sender = (envelope_from, f"MAIL FROM:<{envelope_from}>\r\n".encode())
        mail_line = self._sender[1]
        rcpt_line = f"RCPT TO:<{recipient}>\r\n".encode()
        rcpt: Reply | None
        data: Reply | None
        if self.pipelining:
            self._transport.write(mail_line + rcpt_line + b"DATA\r\n")
            mail = await self._read()
            rcpt = await self._reply_after(mail)
            data = await self._reply_after(rcpt) if rcpt is not None else None
        else:
            mail = await self._roundtrip(mail_line)
            rcpt = await self._roundtrip(rcpt_line) if mail.ok else None
            data = await self._roundtrip(b"DATA\r\n") if rcpt is not None and rcpt.ok else None
        if not (mail.ok and rcpt is not None and rcpt.ok and data is not None and data.code == 354):
            await self._reset()
            return Transaction(mail, rcpt, data)
        # From here on the relay may take the message even if its answer is lost.
        self.committed = True
        self._transport.writelines((_data_lines(message), _END_OF_DATA))
        await self._replies.drained(self._timeout)
        end = await self._read()
        self.committed = False
        return Transaction(mail, rcpt, data, end)

    async def _reply_after(self, previous: Reply) -> Reply | None:
        """The next pipelined reply; None when the relay hung up after a refusal (a 421)."""
        try:
            return await self._read()
        except WireError:
            if previous.ok:
                raise
            self.usable = False
            return None

    async def _reset(self) -> None:
        """RSET after a refusal; a relay that hung up (a 421 does) keeps its refusal."""
        if self.usable:
            try:
                self.usable = (await self._roundtrip(b"RSET\r\n")).ok
            except (WireError, OSError):
                self.usable = False

    async def quit(self) -> None:
        """Say QUIT and close."""
        try:
            await self._roundtrip(b"QUIT\r\n")
            self._transport.close()
            await asyncio.wait_for(asyncio.shield(self._replies.closed), self._timeout)
        finally:
            self.close()

    async def aclose(self) -> None:
        """Close without a word to the relay, and wait until the socket is released.

        A transport frees its socket only after the loop turns (a TLS one after its
        close_notify); a caller that ends its loop right away would leave it open.
        """
        self.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._replies.closed), min(self._timeout, 2.0))
        await asyncio.sleep(0)

    @property
    def hung_up(self) -> bool:
        """The relay closed the connection (or it broke), as opposed to a reply being late."""
        return bool(self._replies.failure)

    def close(self) -> None:
        """Close at once, without a word to the relay."""
        self._transport.close()
        self._raw.close()

    async def _ehlo(self) -> set[str]:
        reply = await self._command("EHLO", b"EHLO localhost\r\n")
        return {line.split(" ", 1)[0].upper() for line in reply.text.split("\n")[1:]}

    async def _command(self, name: str, line: bytes) -> Reply:
        return await self._expect(name, await self._roundtrip(line))

    async def _expect(self, name: str, reply: Reply) -> Reply:
        if not reply.ok:
            raise SmtpRefusal(name, reply)
        return reply

    async def _roundtrip(self, line: bytes) -> Reply:
        self._transport.write(line)
        return await self._read()

    async def _read(self) -> Reply:
        replies = self._replies
        if not replies.replies:
            await replies.arrival(self._timeout)
            if not replies.replies:
                raise WireError(replies.failure)
        return replies.replies.popleft()


def _tls_context(settings: SmtpSettings) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(settings.ca_file) if settings.ca_file else None)
    if settings.tls_unverified_host and settings.tls_unverified_host == settings.host:
        # Named in the settings for this one host (a self-signed relay on a private network).
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
