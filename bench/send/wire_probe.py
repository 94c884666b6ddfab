"""The send path without the ledger: builder and SMTP client only, against the same sink.

Each of CONNECTIONS tasks opens a `WireConnection` and sends personalised messages from
`digest.messages` (the issue of child.py, every message built, signed links and all) to
the next subscriber until MESSAGES are sent; no ledger, no dispatch loop, no rate limiter.
The gap between this and child.py is what the ledger and the dispatch loop cost; the gap
between this and smtp-source is the client and the builder.

    smtp-sink -u nobody 127.0.0.1:PORT 1024 &
    .venv/bin/python bench/send/wire_probe.py --port PORT --messages 5000 --connections 16

run.py runs it in every round with ``--probe``. Prints one JSON line (rate, CPU ms a message).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from child import NOW, rendered_issue

from digest.config import Settings, SmtpSettings
from digest.delivery import classify
from digest.messages import build_message, make_message_id, personal_slots
from digest.models import DeliveryState, Subscriber
from digest.smtpwire import WireConnection


async def connection(settings: Settings, numbers: list[int], sent: list[int]) -> None:
    rendered, newsletter = rendered_issue(), settings.newsletter
    client = await WireConnection.open(settings.smtp, "")
    try:
        while numbers:
            number = numbers.pop()
            person = Subscriber(f"lecteur{number:07d}@example.org", f"Lecteur {number}")
            slots = personal_slots(person, secret=b"bench", newsletter=newsletter)
            message = build_message(
                rendered,
                person,
                slots,
                newsletter=newsletter,
                message_id=make_message_id("2025-W04", person.email, "example.org"),
                date=NOW,
            )
            answer = await client.send(newsletter.from_address, person.email, message)
            assert classify(answer).state is DeliveryState.SENT, answer
            sent.append(number)
    finally:
        await client.quit()


async def probe(port: int, messages: int, connections: int) -> dict[str, float]:
    smtp = SmtpSettings(host="127.0.0.1", port=port, security="none", connections=connections)
    settings = Settings(smtp=smtp)
    numbers, sent = list(range(messages)), list[int]()
    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(connection(settings, numbers, sent) for _ in range(connections)))
    elapsed = time.perf_counter() - started
    assert len(sent) == messages
    return {
        "rate": messages / elapsed,
        "cpu_ms": (time.process_time() - cpu) * 1000 / messages,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(probe(args.port, args.messages, args.connections))))


if __name__ == "__main__":
    main()
