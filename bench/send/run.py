"""Send throughput against Postfix's smtp-sink, with smtp-source as the reference client.

Runs, in one go and against the same smtp-sink on 127.0.0.1:
  1. smtp-source: MESSAGES messages of ~64 KB over CONNECTIONS reused connections;
  2. `digest send` (in a child process): MESSAGES personalised ~64 KB messages, every one
     logged in a SQLite ledger, over the same number of connections;
and prints messages/s of each, their ratio (median of --rounds), and the peak memory of the
digest child. ``--memory N`` adds one digest run of N subscribers to show peak memory stays
flat as the list grows. ``--probe`` adds, in every round, `wire_probe.py`: the builder and
the SMTP client alone (no ledger, no dispatch loop), to tell their cost from the rest.

    .venv/bin/python bench/send/run.py --messages 5000 --connections 16 --rounds 3

Needs Debian's postfix package for smtp-sink/smtp-source; the mail system itself stays
stopped (only smtp-sink runs, as an unprivileged user, on loopback).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
MESSAGE_BYTES = 64 * 1024


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_sink(port: int) -> subprocess.Popen[bytes]:
    """smtp-sink on loopback, as nobody, with a deep accept backlog."""
    sink = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
    process = subprocess.Popen(
        [sink, "-u", "nobody", f"127.0.0.1:{port}", "1024"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit("smtp-sink did not start (apt-get install postfix)")


def run_source(port: int, messages: int, connections: int) -> float:
    """Messages per second of smtp-source (-d: connections reused, like ours)."""
    source = shutil.which("smtp-source") or "/usr/sbin/smtp-source"
    started = time.perf_counter()
    subprocess.run(
        [
            source,
            "-d",
            "-l",
            str(MESSAGE_BYTES),
            "-m",
            str(messages),
            "-s",
            str(connections),
            "-f",
            "lettre@example.org",
            "-t",
            "lecteur@example.org",
            f"127.0.0.1:{port}",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        timeout=3600,
    )
    return messages / (time.perf_counter() - started)


def run_digest(port: int, messages: int, connections: int) -> dict[str, float]:
    """One `digest send` in a child process; its own report (rate, peak memory)."""
    with tempfile.TemporaryDirectory() as folder:
        output = subprocess.run(
            [
                sys.executable,
                str(HERE / "child.py"),
                "--port",
                str(port),
                "--messages",
                str(messages),
                "--connections",
                str(connections),
                "--folder",
                folder,
            ],
            check=True,
            capture_output=True,
            text=True,
            timeout=7200,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
    result: dict[str, float] = json.loads(output.stdout.strip().splitlines()[-1])
    return result


def run_probe(port: int, messages: int, connections: int) -> dict[str, float]:
    """wire_probe.py in a child process: builder and SMTP client, no ledger."""
    output = subprocess.run(
        [
            sys.executable,
            str(HERE / "wire_probe.py"),
            "--port",
            str(port),
            "--messages",
            str(messages),
            "--connections",
            str(connections),
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=3600,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    result: dict[str, float] = json.loads(output.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--memory", type=int, default=0, help="subscribers of a memory run")
    parser.add_argument("--probe", action="store_true", help="also builder + client alone")
    args = parser.parse_args()
    port = free_port()
    sink = start_sink(port)
    ratios, sources, ours, peaks, probes = [], [], [], [], []
    try:
        for round_ in range(1, args.rounds + 1):
            reference = run_source(port, args.messages, args.connections)
            mine = run_digest(port, args.messages, args.connections)
            sources.append(reference)
            ours.append(mine["rate"])
            peaks.append(mine["peak_mb"])
            ratios.append(mine["rate"] / reference)
            if args.probe:
                wire = run_probe(port, args.messages, args.connections)
                probes.append(wire["rate"] / reference)
                print(
                    f"round {round_}: builder + client alone (no ledger) {wire['rate']:.0f} "
                    f"msg/s (ratio {wire['rate'] / reference:.2f}), CPU "
                    f"{wire['cpu_ms']:.3f} ms/message",
                    flush=True,
                )
            print(
                f"round {round_}: smtp-source {reference:.0f} msg/s, digest send "
                f"{mine['rate']:.0f} msg/s (ratio {mine['rate'] / reference:.2f}), "
                f"CPU {mine['cpu_ms']:.3f} ms/message (event loop {mine['loop_ms']:.3f}, "
                f"ledger writes {mine['ledger_ms']:.3f}; {mine['commits']:.0f} commits of "
                f"{mine['commit_ms']:.1f} ms), build {mine['build_ms']:.3f} ms/message, "
                f"peak {mine['peak_mb']:.0f} MB",
                flush=True,
            )
        print(
            f"median over {args.rounds} rounds, {args.messages} messages of "
            f"{MESSAGE_BYTES // 1024} KB, {args.connections} connections: smtp-source "
            f"{statistics.median(sources):.0f} msg/s, digest send {statistics.median(ours):.0f} "
            f"msg/s, ratio {statistics.median(ratios):.2f}, peak {max(peaks):.0f} MB"
        )
        if probes:
            print(f"builder + client alone: median ratio {statistics.median(probes):.2f}")
        if args.memory:
            big = run_digest(port, args.memory, args.connections)
            print(
                f"memory run: {args.memory} subscribers, {big['rate']:.0f} msg/s, "
                f"peak {big['peak_mb']:.0f} MB"
            )
    finally:
        sink.terminate()
        sink.wait(timeout=10)


if __name__ == "__main__":
    main()
