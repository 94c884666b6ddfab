"""Delivery over SMTP: a pool of reused aiosmtplib connections and one outcome classifier."""

from __future__ import annotations

import asyncio
from typing import Protocol

import aiosmtplib

from digest.config import SmtpSettings
from digest.errors import DeliveryError
from digest.models import DeliveryState, Outcome

PERMANENT = 500  # RFC 5321 4.2.1: 5yz is a permanent negative completion reply
TRANSIENT = 400  # 4yz: transient negative completion, try again later


class Sender(Protocol):
    """Something that hands one message for one recipient to a relay."""

    async def send(self, envelope_from: str, recipient: str, message: bytes) -> Outcome: ...

    async def close(self) -> None: ...


def classify(exc: BaseException) -> Outcome:
    """Map an SMTP failure to a delivery state (DESIGN convention 6)."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) and exc.recipients:
        return classify(exc.recipients[0])
    if isinstance(exc, aiosmtplib.SMTPRecipientRefused):
        state = DeliveryState.BOUNCED if exc.code >= PERMANENT else DeliveryState.DEFERRED
        return Outcome(state, exc.code, exc.message)
    if isinstance(exc, aiosmtplib.SMTPServerDisconnected | aiosmtplib.SMTPTimeoutError):
        return Outcome(DeliveryState.DEFERRED, None, _one_line(exc))
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        # 5xx on MAIL/DATA/AUTH is the relay refusing us, not the recipient: failed.
        state = DeliveryState.FAILED if exc.code >= PERMANENT else DeliveryState.DEFERRED
        return Outcome(state, exc.code, exc.message)
    if isinstance(exc, aiosmtplib.SMTPException | OSError):
        return Outcome(DeliveryState.DEFERRED, None, _one_line(exc))
    raise exc


def accepted(response: aiosmtplib.SMTPResponse) -> Outcome:
    """The relay's 2xx answer to DATA."""
    return Outcome(DeliveryState.SENT, response.code, response.message)


class SmtpSender:
    """Sends through one relay over up to ``settings.connections`` reused connections."""

    def __init__(self, settings: SmtpSettings) -> None:
        self._settings = settings
        self._idle: list[aiosmtplib.SMTP] = []
        self._slots = asyncio.Semaphore(settings.connections)

    async def check(self) -> None:
        """Open one connection now, so a wrong host or password is one clear error."""
        client = await self._connect()
        self._idle.append(client)

    async def send(self, envelope_from: str, recipient: str, message: bytes) -> Outcome:
        """Send one message to one recipient and classify the answer."""
        async with self._slots:
            try:
                client = self._idle.pop() if self._idle else await self._connect()
            except DeliveryError as exc:
                return Outcome(DeliveryState.DEFERRED, None, str(exc))
            try:
                await client.mail(envelope_from)
                await client.rcpt(recipient)
                response = await client.data(message)
            except aiosmtplib.SMTPResponseException as exc:
                await _reset_or_discard(client, self._idle)
                return classify(exc)
            except (aiosmtplib.SMTPException, OSError) as exc:
                client.close()
                return classify(exc)
            self._idle.append(client)
            return accepted(response)

    async def close(self) -> None:
        """Say QUIT on every idle connection."""
        while self._idle:
            client = self._idle.pop()
            try:
                await client.quit()
            except (aiosmtplib.SMTPException, OSError):
                client.close()

    async def _connect(self) -> aiosmtplib.SMTP:
        s = self._settings
        client = aiosmtplib.SMTP(
            hostname=s.host,
            port=s.port,
            timeout=s.timeout,
            use_tls=s.security == "tls",
            start_tls=s.security == "starttls",
            cert_bundle=str(s.ca_file) if s.ca_file else None,
        )
        where = f"{s.host}:{s.port}"
        try:
            await client.connect()
            if s.username:
                await client.login(s.username, s.password.get_secret_value())
        except aiosmtplib.SMTPAuthenticationError as exc:
            client.close()
            raise DeliveryError(
                f"SMTP relay {where} refused the login of {s.username!r}: {exc.message} "
                "(check smtp.username and DIGEST_SMTP__PASSWORD)"
            ) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            client.close()
            raise DeliveryError(
                f"cannot connect to SMTP relay {where} ({s.security}): {_one_line(exc)} "
                "(check smtp.host, smtp.port and smtp.security)"
            ) from exc
        return client


async def _reset_or_discard(client: aiosmtplib.SMTP, idle: list[aiosmtplib.SMTP]) -> None:
    """After a refused command the connection is reusable once RSET succeeds."""
    try:
        await client.rset()
    except (aiosmtplib.SMTPException, OSError):
        client.close()
        return
    idle.append(client)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
