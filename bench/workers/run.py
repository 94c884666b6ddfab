"""Many send workers on one PostgreSQL ledger, into Postfix's smtp-sink on loopback.

For each number of workers, the same list is sent from scratch by that many
`digest send --worker` processes (real command lines, ~64 KB personalised messages, every
row moved pending -> sending -> sent in the ledger): messages per second of all workers
together, and each worker's resident memory sampled every second (peak, and the samples at
a quarter, half and three quarters of the run, to show it stays flat). With --sqlite, the
same list on a SQLite ledger with one worker, for comparison.

    .venv/bin/python bench/workers/run.py \\
        --database postgresql+psycopg://postgres@127.0.0.1:5432/bench \\
        --subscribers 1000000 --workers 1,2,4 --sqlite

The PostgreSQL database given is emptied first (its public schema is dropped).
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa

from digest.ledger import Ledger
from digest.models import IsoWeek

ROOT = Path(__file__).resolve().parents[2]
WEEK = IsoWeek(2025, 4)
NOW = dt.datetime(2025, 1, 24, 6, 0, tzinfo=dt.UTC)


def _sibling(name: str) -> ModuleType:
    """bench/send's helpers (smtp-sink, the 64 KB issue), loaded from their file."""
    spec = importlib.util.spec_from_file_location(f"send_{name}", ROOT / "bench/send" / name)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class Run:
    database: str
    workers: int
    subscribers: int
    seconds: float
    per_second: float
    peak_mb: float
    quarter_mb: float
    half_mb: float
    three_quarters_mb: float


def fill(url: str, count: int) -> None:
    """An empty ledger with ``count`` active subscribers and the saved issue."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(sa.text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(sa.text("CREATE SCHEMA public"))
    engine.dispose()
    ledger = Ledger(url)
    try:
        with ledger._engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                series = "SELECT i FROM generate_series(1, :n) AS i"
            else:
                series = (
                    "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s "
                    "WHERE i < :n) SELECT i FROM s"
                )
            conn.execute(
                sa.text(
                    "INSERT INTO subscribers (email, name, status, created_at) "
                    f"SELECT 'lecteur' || i || '@example.org', 'Lecteur ' || i, 'active', :now "
                    f"FROM ({series}) AS numbers"
                ),
                {"n": count, "now": NOW},
            )
        ledger.save_issue("Toujours+", WEEK, 1, _sibling("child.py").rendered_issue(), "{}", NOW)
    finally:
        ledger.close()


def restart(url: str) -> None:
    """Forget the previous run's deliveries, workers and rate budget."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for table in (
            "delivery_replies",
            "deliveries",
            "send_workers",
            "relay_budget",
            "relay_usage",
        ):
            conn.execute(sa.text(f"DELETE FROM {table}"))
    engine.dispose()


def config(folder: Path, url: str, port: int, connections: int) -> Path:
    path = folder / "digest.toml"
    path.write_text(
        f"""
[newsletter]
from_address = "lettre@example.org"
web_base_url = "https://lettre.example.org"
[smtp]
host = "127.0.0.1"
port = {port}
security = "none"
connections = {connections}
[database]
url = "{url}"
""",
        encoding="utf-8",
    )
    return path


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def send(path: Path, workers: int, url: str, subscribers: int) -> Run:
    env = {**os.environ, "DIGEST_SECRET_KEY": "bench-workers", "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "digest.cli", "--config", str(path), "send", "--worker"]
    started = time.perf_counter()
    processes = [
        subprocess.Popen(
            [*command, "--week", str(WEEK)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
            cwd=path.parent,
        )
        for _ in range(workers)
    ]
    samples: list[list[float]] = []  # per second: the largest RSS among the workers
    while any(p.poll() is None for p in processes):
        samples.append([rss_mb(p.pid) for p in processes if p.poll() is None])
        time.sleep(1.0)
    seconds = time.perf_counter() - started
    for process in processes:
        _, err = process.communicate()
        if process.returncode:
            raise SystemExit(f"a worker failed: {err.decode()[-500:]}")
    ledger = Ledger(url)
    try:
        saved = ledger.load_issue("Toujours+", WEEK)
        assert saved is not None
        counts = ledger.counts(saved.id)
    finally:
        ledger.close()
    if counts != {"sent": subscribers}:
        raise SystemExit(f"not every subscriber was sent: {counts}")
    peaks = [max(sample, default=0.0) for sample in samples] or [0.0]

    def at(share: float) -> float:
        return round(peaks[min(int(len(peaks) * share), len(peaks) - 1)], 1)

    name = "postgresql" if url.startswith("postgresql") else "sqlite"
    return Run(
        name,
        workers,
        subscribers,
        round(seconds, 1),
        round(subscribers / seconds, 1),
        round(max(peaks), 1),
        at(0.25),
        at(0.5),
        at(0.75),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", required=True, help="PostgreSQL URL (emptied first)")
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--workers", default="1,2,4", help="comma-separated worker counts")
    parser.add_argument("--connections", type=int, default=8, help="SMTP connections per worker")
    parser.add_argument("--sqlite", action="store_true", help="also one worker on SQLite")
    args = parser.parse_args()

    helpers = _sibling("run.py")
    port = helpers.free_port()
    sink = helpers.start_sink(port)
    runs: list[Run] = []
    try:
        with tempfile.TemporaryDirectory() as scratch:
            folder = Path(scratch)
            targets = [(args.database, int(n)) for n in args.workers.split(",")]
            if args.sqlite:
                targets.append((f"sqlite:///{folder / 'ledger.db'}", 1))
            filled: set[str] = set()
            for url, workers in targets:
                if url not in filled:
                    fill(url, args.subscribers)
                    filled.add(url)
                restart(url)
                path = config(folder, url, port, args.connections)
                run = send(path, workers, url, args.subscribers)
                runs.append(run)
                print(json.dumps(asdict(run)), flush=True)
    finally:
        sink.terminate()
        sink.wait()
    print()
    print(
        "| ledger | workers | subscribers | time | messages/s | peak RSS per worker | "
        "RSS at 1/4, 1/2, 3/4 |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for run in runs:
        print(
            f"| {run.database} | {run.workers} | {run.subscribers:,} | {run.seconds} s | "
            f"{run.per_second:,.0f} | {run.peak_mb} MB | {run.quarter_mb} / {run.half_mb} / "
            f"{run.three_quarters_mb} MB |"
        )


if __name__ == "__main__":
    main()
