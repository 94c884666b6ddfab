"""An aiosmtpd server in its own process that accepts every message and logs it.

Run as ``python -m tests.sinkprocess PORT LOG``: each accepted message appends one line
``<arrival time>\\t<recipient>\\t<Message-ID>`` to LOG (written through at once, so what
the file says is what the server acknowledged). Its own process: the senders under test
and the server do not share one interpreter lock, and a sender killed by a test leaves
the server's record intact.
"""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from digest.catcher import LOOPBACK, free_port

_MESSAGE_ID = re.compile(rb"^Message-ID:\s*(\S+)", re.IGNORECASE | re.MULTILINE)
ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True, slots=True)
class Arrival:
    """One message the server acknowledged."""

    at: float
    recipient: str
    message_id: str


@dataclass(frozen=True, slots=True)
class SinkProcess:
    """Where the sink listens and what it logged."""

    host: str
    port: int
    log: Path

    def arrivals(self) -> list[Arrival]:
        if not self.log.exists():
            return []
        found = []
        for line in self.log.read_text(encoding="utf-8").splitlines():
            at, recipient, message_id = line.split("\t")
            found.append(Arrival(float(at), recipient, message_id))
        return found


@contextmanager
def sink_process(log: Path) -> Iterator[SinkProcess]:
    """Start the sink on a free loopback port; stop it at the end."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.sinkprocess", str(port), str(log)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        if process.stdout.readline().strip() != "ready":
            raise RuntimeError("the SMTP sink did not start")
        yield SinkProcess(LOOPBACK, port, log)
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)


class _LoggingHandler:
    def __init__(self, log: Path) -> None:
        self._file = log.open("a", encoding="utf-8", buffering=1)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        found = _MESSAGE_ID.search(envelope.content)
        message_id = found.group(1).decode() if found else "-"
        now = time.time()
        self._file.write(
            "".join(f"{now:.6f}\t{rcpt}\t{message_id}\n" for rcpt in envelope.rcpt_tos)
        )
        return "250 2.0.0 Ok: queued"


def _serve(port: int, log: Path) -> None:
    from aiosmtpd.controller import Controller

    controller = Controller(_LoggingHandler(log), hostname=LOOPBACK, port=port, data_size_limit=0)
    controller.start()
    print("ready", flush=True)
    stop = asyncio.Event()

    async def wait() -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()

    try:
        asyncio.run(wait())
    finally:
        controller.stop()


if __name__ == "__main__":
    _serve(int(sys.argv[1]), Path(sys.argv[2]))
