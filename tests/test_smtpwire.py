"""The send path's SMTP client: what the builder vouches for, and how replies are read.

The builder's messages go out without a scan (`SmtpData`): the property tests show their
DATA form is exactly what the generic stuffing makes of their bytes, and that they hold
no lone CR or LF. The reply tests talk to small scripted servers on loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from digest.config import NewsletterSettings, SmtpSettings
from digest.messages import build_message, personal_slots
from digest.models import RenderedIssue, Subscriber
from digest.rendering import SLOT_GREETING, SLOT_NAME, SLOT_UNSUBSCRIBE_URL
from digest.smtpwire import SmtpData, WireConnection, WireError, stuffed
from tests.conftest import SmtpServer

NEWSLETTER = NewsletterSettings(from_name="La Rédaction", reply_to="courrier@exemple.fr")
SENT_AT = dt.datetime(2025, 1, 24, 7, 0, tzinfo=dt.UTC)
MESSAGE_ID = "<0123456789abcdef.2025-W04@exemple.fr>"
# Lines that start with dots, lone CRs and LFs, "=" and trailing spaces, accents, long lines.
LINE = st.sampled_from(
    [".", "..", ".point", " .", "=", "a=b", "fin ", "\t", "é", "x" * 80, "y. " * 40, "\r", ""]
)
PIECE = st.one_of(LINE, st.sampled_from([SLOT_GREETING, SLOT_NAME, SLOT_UNSUBSCRIBE_URL]))
BREAK = st.sampled_from(["\n", "\r\n", "\r", ""])
BODY = st.lists(st.tuples(PIECE, BREAK), max_size=30).map(
    lambda pairs: "".join(piece + brk for piece, brk in pairs)
)
NAME = st.sampled_from(["", "Zoé", ".Zoé", "Jean Martin", "..", "A" * 90])


def _message(text: str, html: str, name: str) -> SmtpData:
    rendered = RenderedIssue("Toujours+ n°1", "Préheader", html, text, html)
    subscriber = Subscriber("zoe@exemple.fr", name)
    slots = personal_slots(subscriber, secret=b"secret", newsletter=NEWSLETTER)
    return build_message(
        rendered, subscriber, slots, newsletter=NEWSLETTER, message_id=MESSAGE_ID, date=SENT_AT
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=BODY, html=BODY, name=NAME)
def test_the_builders_data_form_is_the_generic_stuffing_of_its_bytes(
    text: str, html: str, name: str
) -> None:
    message = _message(text, html, name)
    assert type(message) is SmtpData
    raw = bytes(message)
    # CRLF only, ending with CRLF: what lets the send path skip its line-ending check.
    assert raw.count(b"\r") == raw.count(b"\r\n") == raw.count(b"\n")
    assert raw.endswith(b"\r\n")
    # The precomputed DATA form is what the generic path makes of the same bytes.
    assert stuffed(message) == stuffed(raw)
    dotted = raw.startswith(b".") or b"\r\n." in raw
    assert (message.stuffed is not None) == dotted


def test_a_body_with_dot_lines_arrives_unchanged(smtp_server: SmtpServer) -> None:
    text = ".cachée\n.\n..deux\nfin.\n" + "x" * 74 + ".suite\n"
    message = _message(text, "<p>.</p>\n.html\n", "Zoé")
    assert message.stuffed is not None
    settings_ = SmtpSettings(host=smtp_server.host, port=smtp_server.port, security="none")

    async def go() -> None:
        connection = await WireConnection.open(settings_, "")
        try:
            answer = await connection.send("lettre@exemple.fr", "zoe@exemple.fr", message)
            assert answer.end is not None and answer.end.code == 250
        finally:
            await connection.quit()

    asyncio.run(go())
    assert smtp_server.handler.messages[-1].content == bytes(message)


Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def _talk(script: Script, seconds: float = 5.0) -> AsyncIterator[WireConnection]:
    """A connection to a loopback server that greets and answers EHLO, then runs ``script``."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 test ready\r\n")
        await reader.readline()
        # Reply lines cut across writes: the client must put them back together.
        for piece in (b"250-test", b" greets you\r\n250-PIPE", b"LINING\r", b"\n250 8BITMIME\r\n"):
            writer.write(piece)
            await writer.drain()
            await asyncio.sleep(0.01)
        try:
            await script(reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    settings_ = SmtpSettings(host="127.0.0.1", port=port, security="none", timeout=seconds)
    try:
        connection = await WireConnection.open(settings_, "")
        try:
            yield connection
        finally:
            await connection.aclose()
    finally:
        server.close()
        await server.wait_closed()


async def _queued(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    for _ in range(3):
        await reader.readline()
    writer.write(b"250 ok\r\n250-first line\r\n250 second line\r\n354 go ahead\r\n")
    while await reader.readline() != b".\r\n":
        pass
    writer.write(b"250 queued\r\n")
    await reader.readline()


def test_split_and_multiline_replies_are_read_in_order() -> None:
    async def go() -> None:
        async with _talk(_queued) as connection:
            assert connection.pipelining
            answer = await connection.send("a@exemple.fr", "b@exemple.fr", b"Subject: x\r\n\r\n")
        assert answer.mail.text == "ok"
        assert answer.rcpt is not None and answer.rcpt.text == "first line\nsecond line"
        assert answer.data is not None and answer.data.code == 354
        assert answer.end is not None and answer.end.text == "queued"

    asyncio.run(go())


async def _hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readline()


async def _garble(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readline()
    writer.write(b"hello there\r\n")
    await reader.readline()


async def _ramble(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readline()
    writer.write(b"250 " + b"x" * 70_000)
    await reader.read()


async def _stall(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read()


@pytest.mark.parametrize(
    ("script", "error"),
    [
        (_hang_up, "connection closed by the relay"),
        (_garble, "bad reply"),
        (_ramble, "bad reply"),
        (_stall, "no answer from the relay in 0.2 s"),
    ],
    ids=["hang-up", "garbled", "endless-line", "stall"],
)
def test_a_relay_that_does_not_answer_properly_is_a_wire_error(script: Script, error: str) -> None:
    async def go() -> None:
        async with _talk(script, seconds=0.2) as connection:
            connection.pipelining = False
            with pytest.raises(WireError, match=f"^{error}$"):
                await connection.send("a@exemple.fr", "b@exemple.fr", b"Subject: x\r\n\r\n")

    asyncio.run(go())
