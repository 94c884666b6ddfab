"""An SMTP sink on 127.0.0.1 in its own process: notes every message it takes, then says 250.

Each message taken adds one line ``recipient<TAB>Message-ID`` to the log file, written and
flushed before the 250 goes out: a client that saw the 250 always finds its line there.
Prints ``READY <port>`` once listening; stops on SIGTERM or SIGINT.

    python bench/reliability/sink.py --log taken.tsv
"""

from __future__ import annotations

import argparse
import re
import signal
import threading
from pathlib import Path
from typing import IO, Any

from aiosmtpd.controller import Controller

from digest.catcher import LOOPBACK, free_port

_MESSAGE_ID = re.compile(rb"^Message-ID:\s*(<[^>\r\n]*>)", re.IGNORECASE | re.MULTILINE)


class Sink:
    """aiosmtpd handler: every message is noted in the log, then accepted."""

    def __init__(self, log: IO[str]) -> None:
        self._log = log
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        found = _MESSAGE_ID.search(envelope.original_content)
        message_id = found.group(1).decode() if found else "-"
        with self._lock:
            for rcpt in envelope.rcpt_tos:
                self._log.write(f"{rcpt}\t{message_id}\n")
            self._log.flush()
        return "250 2.0.0 taken"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log", type=Path, required=True, help="where taken messages are noted")
    parser.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    args = parser.parse_args()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    with args.log.open("a", encoding="utf-8") as log:
        controller = Controller(
            Sink(log), hostname=LOOPBACK, port=args.port or free_port(), ready_timeout=30.0
        )
        controller.start()
        print(f"READY {controller.port}", flush=True)
        try:
            stop.wait()
        finally:
            controller.stop()


if __name__ == "__main__":
    main()
