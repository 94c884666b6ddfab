"""One measured `digest send` (called by run.py): prints a JSON line with rate and memory.

Besides the rate it reports where the CPU went, per message: the whole process, the event
loop's thread (building, SMTP, asyncio), and the ledger's writes (``Ledger.journal``, run
in a worker thread), each as CPU milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import functools
import json
import resource
import threading
import time
from collections.abc import Callable
from typing import Any

from digest.config import Settings, SmtpSettings
from digest.delivery import make_relays
from digest.ledger import Ledger
from digest.ledger.tables import subscribers
from digest.models import DeliveryState, DeliveryTask, IsoWeek, RenderedIssue, Subscriber
from digest.pipeline import message_builder, send_issue

NOW = dt.datetime(2025, 1, 24, 6, 0, tzinfo=dt.UTC)
PARAGRAPH = (
    '<tr><td style="padding:0 24px"><h2>Un titre d\'article de la semaine</h2><p>Résumé '
    "de l'article : une phrase, puis une autre, avec des accents é à ç.</p>"
    '<a href="https://lettre.example.org/articles/un-article-de-la-semaine">Lire</a></td></tr>'
)


def rendered_issue() -> RenderedIssue:
    """A ~64 KB issue (HTML and text) with the personal slots open, like the renderer's."""
    html = (
        "<html><body><p>%%DIGEST_GREETING%%</p><table>"
        + PARAGRAPH * 200
        + '</table><a href="%%DIGEST_UNSUBSCRIBE_URL%%">Se désinscrire</a></body></html>'
    )
    text = "%%DIGEST_GREETING%%\n" + "Un article de la semaine, résumé.\n" * 400
    text += "Se désinscrire : %%DIGEST_UNSUBSCRIBE_URL%%\n"
    return RenderedIssue("Toujours+ n°1 : la semaine", "Préheader", html, text, html)


def add_subscribers(ledger: Ledger, count: int) -> None:
    """Bulk insert, in chunks, straight into the table (the CSV import is not measured)."""
    engine = ledger._engine
    with engine.begin() as conn:
        for start in range(0, count, 10000):
            conn.execute(
                subscribers.insert(),
                [
                    {
                        "email": f"lecteur{i:07d}@example.org",
                        "name": f"Lecteur {i}",
                        "status": "active",
                        "created_at": NOW,
                    }
                    for i in range(start, min(start + 10000, count))
                ],
            )


class ThreadClock:
    """Calls of one method: how many, their CPU and their wall seconds, in any thread."""

    def __init__(self) -> None:
        self.calls = 0
        self.seconds = 0.0
        self.wall = 0.0
        self._lock = threading.Lock()

    def wrap(self, method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def timed(*args: Any, **kwargs: Any) -> Any:
            started, wall = time.thread_time(), time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                with self._lock:
                    self.calls += 1
                    self.seconds += time.thread_time() - started
                    self.wall += time.perf_counter() - wall

        return timed


async def send(settings: Settings, ledger: Ledger, messages: int) -> dict[str, float]:
    saved = ledger.save_issue("Toujours+", IsoWeek(2025, 4), 1, rendered_issue(), "{}", NOW)
    sender = make_relays(settings.smtp)
    journal = ThreadClock()
    ledger.journal = journal.wrap(ledger.journal)  # type: ignore[method-assign]
    started, cpu, loop_cpu = time.perf_counter(), time.process_time(), time.thread_time()
    try:
        report = await send_issue(saved, settings, ledger, sender, b"bench", lambda: NOW)
    finally:
        await sender.close()
    elapsed = time.perf_counter() - started
    per_message = 1000 / messages
    result = {
        "rate": messages / elapsed,
        "cpu_ms": (time.process_time() - cpu) * per_message,
        "loop_ms": (time.thread_time() - loop_cpu) * per_message,
        "ledger_ms": journal.seconds * per_message,
        "commits": journal.calls,
        "commit_ms": journal.wall * 1000 / max(journal.calls, 1),
    }
    assert report.count(DeliveryState.SENT) == messages, report
    return result


def build_cost(settings: Settings, ledger: Ledger) -> float:
    """CPU milliseconds to build one personalised message."""
    saved = ledger.load_issue("Toujours+", IsoWeek(2025, 4))
    assert saved is not None
    build = message_builder(saved, settings, b"bench", lambda: NOW)
    task = DeliveryTask(1, Subscriber("lecteur@example.org", "Zoé"), "<a.b@example.org>")
    started = time.process_time()
    for _ in range(500):
        size = len(build(task))
    assert size > 60_000, size
    return (time.process_time() - started) * 1000 / 500


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--messages", type=int, required=True)
    parser.add_argument("--connections", type=int, required=True)
    parser.add_argument("--folder", required=True)
    args = parser.parse_args()
    smtp = SmtpSettings(
        host="127.0.0.1", port=args.port, security="none", connections=args.connections
    )
    settings = Settings(
        smtp=smtp,
        database={"url": f"sqlite:///{args.folder}/ledger.db"},  # type: ignore[arg-type]
    )
    ledger = Ledger(settings.database.url)
    add_subscribers(ledger, args.messages)
    result = asyncio.run(send(settings, ledger, args.messages))
    result["build_ms"] = build_cost(settings, ledger)
    ledger.close()
    result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


if __name__ == "__main__":
    main()
