"""Real local servers for the tests: an SMTP server on loopback, the PostgreSQL server."""

from __future__ import annotations

import base64
import email
import email.policy
import os
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import dkim
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from digest.catcher import LOOPBACK, free_port

POSTGRES_URL_ENV = "DIGEST_TEST_POSTGRESQL_URL"
# Seconds a test SMTP server may take to come up on a busy shared machine.
READY_TIMEOUT = 30.0


@dataclass
class Received:
    """One message as the SMTP server got it."""

    mail_from: str
    rcpt_tos: list[str]
    content: bytes


@dataclass
class RecordingHandler:
    """Keeps every message; answers RCPT for listed addresses with a chosen reply."""

    messages: list[Received] = field(default_factory=list)
    rcpt_replies: dict[str, str] = field(default_factory=dict)
    data_reply: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        reply = self.rcpt_replies.get(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_reply:
            return self.data_reply
        with self.lock:
            self.messages.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.content))
            )
        return "250 2.0.0 queued"


@dataclass
class SmtpServer:
    host: str
    port: int
    handler: RecordingHandler

    def parsed(self, to: str | None = None) -> list[EmailMessage]:
        """The messages received (for ``to`` only, when given), parsed, in arrival order."""
        found = []
        for item in self.handler.messages:
            if to is None or to in item.rcpt_tos:
                message = email.message_from_bytes(item.content, policy=email.policy.default)
                assert isinstance(message, EmailMessage)
                found.append(message)
        return found


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """An aiosmtpd server on 127.0.0.1 that records what it receives."""
    handler = RecordingHandler()
    port = free_port()
    controller = Controller(handler, hostname=LOOPBACK, port=port, ready_timeout=READY_TIMEOUT)
    controller.start()
    try:
        yield SmtpServer(LOOPBACK, port, handler)
    finally:
        controller.stop()


def _postgres_url() -> str | None:
    url = os.environ.get(POSTGRES_URL_ENV)
    if url:
        return url
    if os.environ.get("CI"):
        return "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    return None


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def database_url(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, and the PostgreSQL server when there is one."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.db'}"
        return
    url = _postgres_url()
    if url is None:
        pytest.skip(f"no PostgreSQL server configured ({POSTGRES_URL_ENV}); CI requires one")
    yield from _fresh_postgres_schema(url)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database (what several send workers share)."""
    url = _postgres_url()
    if url is None:
        pytest.skip(f"no PostgreSQL server configured ({POSTGRES_URL_ENV}); CI requires one")
    yield from _fresh_postgres_schema(url)


def _fresh_postgres_schema(url: str) -> Iterator[str]:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        _empty_public_schema(engine)
        yield url
        _empty_public_schema(engine)
    finally:
        engine.dispose()


def _empty_public_schema(engine: Any) -> None:
    """Every table goes, the schema version and the scheduler's job store included."""
    import sqlalchemy as sa

    with engine.begin() as conn:
        conn.execute(sa.text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(sa.text("CREATE SCHEMA public"))


@dataclass
class TlsFiles:
    """A self-signed certificate for 127.0.0.1 and its key (the certificate is its own CA)."""

    cert: Path
    key: Path


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "relay.pem", folder / "relay.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return TlsFiles(cert, key)


DKIM_SELECTOR = "lettre2025"
DKIM_DOMAIN = "exemple.fr"


@dataclass(frozen=True)
class DkimKey:
    """An RSA key for DKIM made for the tests, and the DNS record of its public half."""

    private: Path
    dns_record: bytes

    def verifies(self, message: bytes) -> bool:
        """Whether dkimpy verifies ``message`` against this key's record (no DNS queried)."""
        published = f"{DKIM_SELECTOR}._domainkey.{DKIM_DOMAIN}.".encode()

        def dns(name: bytes, timeout: int = 5) -> bytes:
            return self.dns_record if name == published else b""

        return bool(dkim.verify(message, dnsfunc=dns))


@pytest.fixture(scope="session")
def dkim_key(tmp_path_factory: pytest.TempPathFactory) -> DkimKey:
    private = tmp_path_factory.mktemp("dkim") / "dkim.key"
    subprocess.run(
        ["openssl", "genrsa", "-out", str(private), "2048"], check=True, capture_output=True
    )
    public = subprocess.run(
        ["openssl", "rsa", "-in", str(private), "-pubout", "-outform", "DER"],
        check=True,
        capture_output=True,
    ).stdout
    return DkimKey(private, b"v=DKIM1; k=rsa; p=" + base64.b64encode(public))


def _touch(port: int) -> None:
    with socket.create_connection((LOOPBACK, port), timeout=1.0):
        pass


def _accept_test_login(
    server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        b"lettre",
        b"s3cret",
    )
    return AuthResult(success=ok, handled=False)


@pytest.fixture(params=["starttls", "tls"])
def tls_smtp_server(
    request: pytest.FixtureRequest, tls_files: TlsFiles
) -> Iterator[tuple[str, SmtpServer]]:
    """An SMTP server on 127.0.0.1 with STARTTLS or implicit TLS, and AUTH required."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tls_files.cert, tls_files.key)
    handler = RecordingHandler()
    port = free_port()
    options: dict[str, Any] = {"authenticator": _accept_test_login, "auth_required": True}
    if request.param == "starttls":
        options.update(tls_context=context, require_starttls=True)
    else:
        # aiosmtpd only counts STARTTLS as TLS for AUTH; here the whole connection is TLS.
        options.update(ssl_context=context, auth_require_tls=False)
    controller = Controller(
        handler, hostname=LOOPBACK, port=port, ready_timeout=READY_TIMEOUT, **options
    )
    if request.param == "tls":
        # The controller's readiness probe wraps its socket with the server's own context;
        # a plain TCP connection is enough to make the server accept.
        controller._trigger_server = lambda: _touch(port)  # type: ignore[method-assign]
    controller.start()
    try:
        yield request.param, SmtpServer(LOOPBACK, port, handler)
    finally:
        controller.stop()
