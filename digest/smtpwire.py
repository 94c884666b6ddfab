"""A lean SMTP client connection for the send path: one message, one recipient, pipelined.

aiosmtplib runs two regular expressions over every message it sends (line endings and
dot-stuffing) and waits for each reply in turn; our messages are already CRLF and
quoted-printable, so dot-stuffing is one ``bytes.replace``, and MAIL, RCPT and DATA go in
one write when the relay offers PIPELINING (RFC 2920).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import re
import ssl
from dataclasses import dataclass

from digest.config import SmtpSettings

_LONE_LF = re.compile(rb"(?<!\r)\n")


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


class WireConnection:
    """An open, greeted (and possibly TLS, logged-in) connection to one relay."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        # After STARTTLS the writer holds the TLS transport; the socket's own transport is
        # kept to be closed too, or a failed handshake leaves the socket open.
        self._raw = writer.transport
        self._timeout = 30.0
        self.pipelining = False
        self.committed = False

    @classmethod
    async def open(cls, settings: SmtpSettings, password: str) -> WireConnection:
        """Connect, greet, STARTTLS or TLS as configured, and log in; raises on refusal."""
        context = _tls_context(settings) if settings.security != "none" else None
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(
                settings.host,
                settings.port,
                ssl=context if settings.security == "tls" else None,
            ),
            settings.timeout,
        )
        connection = cls(reader, writer)
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
            await self._writer.start_tls(context, server_hostname=settings.host)
            extensions = await self._ehlo()
        if settings.username:
            token = base64.b64encode(f"\0{settings.username}\0{password}".encode()).decode()
            await self._command("AUTH", f"AUTH PLAIN {token}\r\n".encode())
        self.pipelining = "PIPELINING" in extensions

    async def send(self, envelope_from: str, recipient: str, message: bytes) -> Transaction:
        """MAIL, RCPT, DATA and the message; stops at the first refusal (then RSET)."""
        head = [
            f"MAIL FROM:<{envelope_from}>\r\n".encode(),
            f"RCPT TO:<{recipient}>\r\n".encode(),
            b"DATA\r\n",
        ]
        rcpt: Reply | None
        data: Reply | None
        if self.pipelining:
            self._writer.write(b"".join(head))
            mail, rcpt, data = await self._read(), await self._read(), await self._read()
        else:
            mail = await self._roundtrip(head[0])
            rcpt = await self._roundtrip(head[1]) if mail.ok else None
            data = await self._roundtrip(head[2]) if rcpt is not None and rcpt.ok else None
        if not (mail.ok and rcpt is not None and rcpt.ok and data is not None and data.code == 354):
            await self._roundtrip(b"RSET\r\n")
            return Transaction(mail, rcpt, data)
        # From here on the relay may take the message even if its answer is lost.
        self.committed = True
        self._writer.write(stuffed(message))
        await self._drain()
        end = await self._read()
        self.committed = False
        return Transaction(mail, rcpt, data, end)

    async def quit(self) -> None:
        """Say QUIT and close."""
        try:
            await self._roundtrip(b"QUIT\r\n")
            self._writer.close()
            await asyncio.wait_for(self._writer.wait_closed(), self._timeout)
        finally:
            self.close()

    async def aclose(self) -> None:
        """Close without a word to the relay, and wait until the socket is released.

        A transport frees its socket only after the loop turns (a TLS one after its
        close_notify); a caller that ends its loop right away would leave it open.
        """
        self.close()
        with contextlib.suppress(OSError, TimeoutError, ssl.SSLError):
            await asyncio.wait_for(self._writer.wait_closed(), min(self._timeout, 2.0))
        await asyncio.sleep(0)

    def close(self) -> None:
        """Close at once, without a word to the relay."""
        self._writer.close()
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
        self._writer.write(line)
        return await self._read()

    async def _drain(self) -> None:
        try:
            await asyncio.wait_for(self._writer.drain(), self._timeout)
        except (OSError, TimeoutError) as exc:
            raise WireError(f"connection lost while sending: {exc or type(exc).__name__}") from exc

    async def _read(self) -> Reply:
        lines: list[str] = []
        while True:
            try:
                raw = await asyncio.wait_for(self._reader.readline(), self._timeout)
            except TimeoutError as exc:
                raise WireError(f"no answer from the relay in {self._timeout:g} s") from exc
            except OSError as exc:
                raise WireError(f"connection lost: {exc}") from exc
            if not raw.endswith(b"\n") or len(raw) < 4 or not raw[:3].isdigit():
                raise WireError("connection closed by the relay" if not raw else "bad reply")
            lines.append(raw[4:].decode("utf-8", "replace").rstrip())
            if raw[3:4] != b"-":
                return Reply(int(raw[:3]), "\n".join(lines))


def stuffed(message: bytes) -> bytes:
    """The message as DATA content: CRLF lines, leading dots doubled, ending ``.``."""
    if message.count(b"\n") != message.count(b"\r\n"):
        message = _LONE_LF.sub(b"\r\n", message)
    if not message.endswith(b"\r\n"):
        message += b"\r\n"
    body = message.replace(b"\r\n.", b"\r\n..")  # RFC 5321 section 4.5.2
    return (b"." if body.startswith(b".") else b"") + body + b".\r\n"


def _tls_context(settings: SmtpSettings) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(settings.ca_file) if settings.ca_file else None)
