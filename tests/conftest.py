"""Real local servers for the tests: an SMTP server on loopback, the PostgreSQL server."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from digest.catcher import LOOPBACK, free_port

POSTGRES_URL_ENV = "DIGEST_TEST_POSTGRESQL_URL"


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


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """An aiosmtpd server on 127.0.0.1 that records what it receives."""
    handler = RecordingHandler()
    port = free_port()
    controller = Controller(handler, hostname=LOOPBACK, port=port)
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


def _fresh_postgres_schema(url: str) -> Iterator[str]:
    import sqlalchemy as sa

    from digest.ledger.tables import metadata

    engine = sa.create_engine(url)
    try:
        metadata.drop_all(engine)
        yield url
        metadata.drop_all(engine)
    finally:
        engine.dispose()
