"""SMTP outcomes against a real aiosmtpd server on loopback."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pydantic import SecretStr

from digest.config import SmtpSettings
from digest.delivery import SmtpSender
from digest.errors import DeliveryError
from digest.models import DeliveryState, Outcome
from tests.conftest import SmtpServer, TlsFiles

MESSAGE = b"From: a@example.org\r\nTo: b@example.org\r\nSubject: t\r\n\r\nbody\r\n"


def _settings(server: SmtpServer, connections: int = 2) -> SmtpSettings:
    return SmtpSettings(
        host=server.host, port=server.port, security="none", connections=connections, timeout=5
    )


async def _send_all(server: SmtpServer, recipients: list[str]) -> list[Outcome]:
    sender = SmtpSender(_settings(server))
    try:
        await sender.check()
        return list(
            await asyncio.gather(
                *(sender.send("lettre@example.org", r, MESSAGE) for r in recipients)
            )
        )
    finally:
        await sender.close()


def test_accepted_messages_are_sent_and_keep_the_server_reply(smtp_server: SmtpServer) -> None:
    outcomes = asyncio.run(_send_all(smtp_server, [f"r{i}@example.org" for i in range(5)]))
    assert {o.state for o in outcomes} == {DeliveryState.SENT}
    assert all(o.code == 250 and "queued" in o.reply for o in outcomes)
    assert sorted(m.rcpt_tos[0] for m in smtp_server.handler.messages) == [
        f"r{i}@example.org" for i in range(5)
    ]


def test_recipient_refusals_are_bounced_or_deferred_by_class(smtp_server: SmtpServer) -> None:
    smtp_server.handler.rcpt_replies = {
        "gone@example.org": "550 5.1.1 no such user",
        "full@example.org": "452 4.2.2 mailbox full",
    }
    outcomes = asyncio.run(
        _send_all(smtp_server, ["gone@example.org", "full@example.org", "ok@example.org"])
    )
    assert [(o.state, o.code) for o in outcomes] == [
        (DeliveryState.BOUNCED, 550),
        (DeliveryState.DEFERRED, 452),
        (DeliveryState.SENT, 250),
    ]
    assert [m.rcpt_tos for m in smtp_server.handler.messages] == [["ok@example.org"]]


def test_a_refused_data_is_failed_not_bounced(smtp_server: SmtpServer) -> None:
    smtp_server.handler.data_reply = "554 5.7.1 rejected as spam"
    (outcome,) = asyncio.run(_send_all(smtp_server, ["ok@example.org"]))
    assert (outcome.state, outcome.code) == (DeliveryState.FAILED, 554)
    assert "spam" in outcome.reply


def test_an_unreachable_relay_is_one_clear_error() -> None:
    from digest.catcher import free_port

    settings = SmtpSettings(host="127.0.0.1", port=free_port(), security="none", timeout=2)

    async def check() -> None:
        await SmtpSender(settings).check()

    with pytest.raises(DeliveryError, match=r"cannot connect to SMTP relay 127\.0\.0\.1:\d+"):
        asyncio.run(check())


def _tls_settings(mode: str, server: SmtpServer, ca: Path | None, password: str) -> SmtpSettings:
    return SmtpSettings(
        host=server.host,
        port=server.port,
        security=mode,  # type: ignore[arg-type]
        username="lettre",
        password=SecretStr(password),
        ca_file=ca,
        timeout=5,
    )


def test_tls_and_auth_from_settings_deliver(
    tls_smtp_server: tuple[str, SmtpServer], tls_files: TlsFiles
) -> None:
    mode, server = tls_smtp_server
    sender = SmtpSender(_tls_settings(mode, server, tls_files.cert, "s3cret"))

    async def send() -> Outcome:
        try:
            await sender.check()
            return await sender.send("lettre@example.org", "ok@example.org", MESSAGE)
        finally:
            await sender.close()

    outcome = asyncio.run(send())
    assert outcome.state is DeliveryState.SENT
    assert [m.rcpt_tos for m in server.handler.messages] == [["ok@example.org"]]


def test_a_rejected_login_names_the_user_and_the_password_variable(
    tls_smtp_server: tuple[str, SmtpServer], tls_files: TlsFiles
) -> None:
    mode, server = tls_smtp_server
    sender = SmtpSender(_tls_settings(mode, server, tls_files.cert, "wrong"))
    with pytest.raises(
        DeliveryError, match=r"refused the login of 'lettre'.*DIGEST_SMTP__PASSWORD"
    ):
        asyncio.run(sender.check())
    assert server.handler.messages == []


def test_an_untrusted_certificate_is_refused(tls_smtp_server: tuple[str, SmtpServer]) -> None:
    mode, server = tls_smtp_server
    sender = SmtpSender(_tls_settings(mode, server, None, "s3cret"))
    with pytest.raises(
        DeliveryError, match=r"cannot connect to SMTP relay.*CERTIFICATE_VERIFY_FAILED"
    ):
        asyncio.run(sender.check())


def test_pipelined_transactions_classify_each_reply(smtp_server: SmtpServer) -> None:
    from digest.delivery import classify
    from digest.smtpwire import WireConnection

    smtp_server.handler.rcpt_replies = {"gone@example.org": "550 5.1.1 no such user"}

    async def go() -> list[Outcome]:
        connection = await WireConnection.open(_settings(smtp_server), "")
        connection.pipelining = True  # aiosmtpd reads pipelined commands in order
        try:
            return [
                classify(await connection.send("lettre@example.org", rcpt, MESSAGE))
                for rcpt in ("gone@example.org", "ok@example.org", "ok2@example.org")
            ]
        finally:
            await connection.quit()

    outcomes = asyncio.run(go())
    assert [(o.state, o.code) for o in outcomes] == [
        (DeliveryState.BOUNCED, 550),
        (DeliveryState.SENT, 250),
        (DeliveryState.SENT, 250),
    ]
    assert [m.rcpt_tos for m in smtp_server.handler.messages] == [
        ["ok@example.org"],
        ["ok2@example.org"],
    ]


def test_lines_starting_with_a_dot_are_stuffed_and_restored(smtp_server: SmtpServer) -> None:
    from digest.smtpwire import stuffed

    message = b".first\r\nText\r\n.\r\n..two\nlone\r\n"
    assert stuffed(message) == b"..first\r\nText\r\n..\r\n...two\r\nlone\r\n.\r\n"
    sender = SmtpSender(_settings(smtp_server))

    async def send() -> Outcome:
        try:
            return await sender.send("lettre@example.org", "dots@example.org", message)
        finally:
            await sender.close()

    assert asyncio.run(send()).state is DeliveryState.SENT
    assert smtp_server.handler.messages[-1].content == message.replace(b"two\nlone", b"two\r\nlone")
