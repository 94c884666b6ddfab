"""Upper bound of a pipelined asyncio SMTP client: prebuilt ~64 KB messages, no ledger.

    smtp-sink -u nobody 127.0.0.1:PORT 1024 &
    .venv/bin/python bench/send/wire_probe.py PORT [MESSAGES] [CONNECTIONS]

MAIL, RCPT and DATA go in one write (RFC 2920 PIPELINING), dot-stuffing is one
``bytes.replace``: what a lean client of our own could reach on this machine.
"""

from __future__ import annotations

import asyncio
import sys
import time

BODY = b"Subject: probe\r\n\r\n" + (b"a" * 74 + b"=\r\n") * 1000


async def connection(port: int, queue: asyncio.Queue[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    await reader.readline()
    writer.write(b"EHLO probe\r\n")
    while (await reader.readline())[3:4] != b" ":
        pass
    while not queue.empty():
        number = queue.get_nowait()
        writer.write(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<r%d@example.org>\r\nDATA\r\n" % number)
        for _ in range(3):
            await reader.readline()
        writer.write(BODY.replace(b"\r\n.", b"\r\n..") + b".\r\n")
        await writer.drain()
        await reader.readline()
    writer.write(b"QUIT\r\n")
    await reader.readline()
    writer.close()


async def main(port: int, messages: int, connections: int) -> None:
    queue: asyncio.Queue[int] = asyncio.Queue()
    for number in range(messages):
        queue.put_nowait(number)
    started = time.perf_counter()
    await asyncio.gather(*(connection(port, queue) for _ in range(connections)))
    print(f"{messages / (time.perf_counter() - started):.0f} msg/s")


if __name__ == "__main__":
    arguments = [int(a) for a in sys.argv[1:]] + [5000, 16][len(sys.argv) - 2 :]
    asyncio.run(main(*arguments[:3]))
