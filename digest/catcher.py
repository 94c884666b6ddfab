"""A local mail catcher: an SMTP server on loopback that keeps what it receives as files.

Each message is written as ``NNNN-<recipient>.eml`` (the exact bytes received) and, when it
has an HTML part, ``NNNN-<recipient>.html`` that a person can open in a browser.
"""

from __future__ import annotations

import email
import email.policy
import re
import socket
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

from aiosmtpd.controller import Controller

LOOPBACK = "127.0.0.1"
_UNSAFE = re.compile(r"[^A-Za-z0-9@._+-]")


class _SavingHandler:
    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self._lock = threading.Lock()
        self.count = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = bytes(envelope.original_content or envelope.content)
        for recipient in envelope.rcpt_tos:
            self._save(str(recipient), content)
        return "250 2.0.0 Message accepted for delivery"

    def _save(self, recipient: str, content: bytes) -> None:
        with self._lock:
            self.count += 1
            stem = f"{self.count:04d}-{_UNSAFE.sub('_', recipient)}"
        (self._folder / f"{stem}.eml").write_bytes(content)
        html = html_part(content)
        if html is not None:
            (self._folder / f"{stem}.html").write_text(html, encoding="utf-8")


def html_part(content: bytes) -> str | None:
    """The decoded text/html part of a raw message, if any."""
    message = email.message_from_bytes(content, policy=email.policy.default)
    part = message.get_body(preferencelist=("html",))
    if part is None:
        return None
    return str(part.get_content())


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


class MailCatcher:
    """Runs the catcher in a background thread while the ``with`` block lasts."""

    def __init__(self, folder: Path, port: int = 0) -> None:
        self.folder = folder
        self.port = port or free_port()
        self._handler = _SavingHandler(folder)
        self._controller = Controller(
            self._handler, hostname=LOOPBACK, port=self.port, ready_timeout=30.0
        )

    @property
    def received(self) -> int:
        return self._handler.count

    def __enter__(self) -> MailCatcher:
        self.folder.mkdir(parents=True, exist_ok=True)
        self._controller.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._controller.stop()
