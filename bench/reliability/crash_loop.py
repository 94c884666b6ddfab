"""Kill `digest send` with SIGKILL again and again, restart it, and count what the relay took.

A sink (bench/reliability/sink.py, its own process) notes every message it takes. The loop
starts `digest send` as a child process, kills it after a random delay, checks the ledger
against the sink (SQLite: ``PRAGMA integrity_check``; nothing the sink took is pending;
nothing recorded sent that the sink did not take; at most one new unconfirmed row per
connection; `digest status` lists every unconfirmed row), and starts it again; after the
last kill it lets a send finish and runs the documented ``digest send --resend-unconfirmed``.
Then: nobody missing, and only rows unconfirmed at a kill may have been taken twice.

    .venv/bin/python bench/reliability/crash_loop.py --subscribers 10000 --kills 20 --seed 1
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import sqlalchemy as sa

from digest.config import DeliverySettings
from digest.ledger import Ledger
from digest.ledger.tables import deliveries
from digest.models import IsoWeek, RenderedIssue, Subscriber

ROOT = Path(__file__).resolve().parents[2]
WEEK = IsoWeek(2025, 4)
NOW = dt.datetime(2025, 1, 24, 6, 0, tzinfo=dt.UTC)
ISSUE = RenderedIssue(
    subject="Toujours+ n°1 : la semaine en bref",
    preheader="Le résumé de la semaine",
    html="<html><body><p>%%DIGEST_GREETING%%</p>"
    + "<p>Les articles de la semaine, résumés.</p>" * 60
    + '<a href="%%DIGEST_UNSUBSCRIBE_URL%%">Se désinscrire</a></body></html>',
    text="%%DIGEST_GREETING%%\nLes articles.\nSe désinscrire : %%DIGEST_UNSUBSCRIBE_URL%%\n",
    web_html="<html><body>web</body></html>",
)
_IN_FLIGHT = re.compile(r"in flight[^:\n]*: (\S+@\S+)")
_REFUSALS = ("lease", "another", "already running")
# Seconds a single `digest send` or `digest status` may take before the loop gives up.
_RUN_LIMIT = 900.0


@dataclass
class Kill:
    """One SIGKILL and what the ledger and the sink said right after it."""

    number: int
    how: str  # "start": while starting; "write": inside a transaction; "sending": on a timer
    delay: float  # seconds after the first message ("sending"), the start ("start"); writes
    killed: bool  # False: the send ended on its own first
    rows: int  # delivery rows in the ledger after the kill (fewer than the list: mid-prepare)
    sent: int  # rows sent in the ledger after the kill
    new_unconfirmed: int  # rows this kill left "sending"
    integrity: str


@dataclass
class Result:
    subscribers: int
    connections: int
    seed: int
    database: str
    kills: list[Kill] = field(default_factory=list)
    taken: int = 0  # messages the sink took, copies included
    missing: int = 0
    unconfirmed: int = 0  # rows left "sending" by the kills, all together
    taken_twice: int = 0  # of those, the ones whose message had reached the sink
    final_send_seconds: float = 0.0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def mid_send(self) -> int:
        """Kills that landed while messages were going out (the sent count had moved)."""
        sent = [0] + [kill.sent for kill in self.kills]
        return sum(1 for k, kill in enumerate(self.kills) if kill.killed and kill.sent > sent[k])


@dataclass
class _Loop:
    work: Path
    config: Path
    database_url: str
    sink_log: Path
    connections: int
    result: Result
    addresses: list[str]
    seen_unconfirmed: set[str] = field(default_factory=set)
    runs: int = 0

    def digest(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "digest.cli", "--config", str(self.config), *args],
            capture_output=True,
            text=True,
            timeout=_RUN_LIMIT,
            env=_env(),
            cwd=self.work,
        )

    def start_send(self, die_after_writes: int = 0) -> subprocess.Popen[bytes]:
        self.runs += 1
        command = ["--config", str(self.config), "send", "--week", str(WEEK)]
        if die_after_writes:
            script = str(Path(__file__).with_name("die_mid_write.py"))
            command = [script, "--after", str(die_after_writes), "--", *command]
        else:
            command = ["-m", "digest.cli", *command]
        with (self.work / f"send-{self.runs:02d}.log").open("wb") as out:
            return subprocess.Popen(
                [sys.executable, *command],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=_env(),
                cwd=self.work,
            )

    def states(self) -> dict[str, str]:
        engine = sa.create_engine(self.database_url)
        try:
            with engine.connect() as conn:
                rows = conn.execute(sa.select(deliveries.c.email, deliveries.c.state)).all()
        finally:
            engine.dispose()
        return {row.email: row.state for row in rows}

    def taken(self) -> list[tuple[str, str]]:
        if not self.sink_log.exists():
            return []
        lines = self.sink_log.read_text(encoding="utf-8").splitlines()
        return [(line.split("\t")[0], line.split("\t")[1]) for line in lines if "\t" in line]

    def problem(self, text: str) -> None:
        self.result.problems.append(text)

    def check_after(
        self, number: int, how: str, delay: float, killed: bool, returncode: int, output: str
    ) -> None:
        """The invariants that hold at any stop, checked right after one."""
        integrity = _integrity(self.database_url)
        if integrity not in ("ok", "n/a"):
            self.problem(f"kill {number}: SQLite integrity_check says {integrity!r}")
        states = self.states()
        taken = {address for address, _ in self.taken()}
        for address in sorted(taken):
            state = states.get(address)
            if state not in ("sent", "sending"):
                self.problem(
                    f"kill {number}: {address} taken by the relay but {state} in the ledger"
                )
        for address, state in states.items():
            if state == "sent" and address not in taken:
                self.problem(f"kill {number}: {address} recorded sent, never taken by the relay")
        sending = {address for address, state in states.items() if state == "sending"}
        new = sending - self.seen_unconfirmed
        if len(new) > self.connections:
            self.problem(f"kill {number}: {len(new)} rows left sending, more than the connections")
        self.seen_unconfirmed |= sending
        listed = self.status_in_flight()
        if listed != sending:
            self.problem(
                f"kill {number}: digest status lists {len(listed)} in flight, the ledger has "
                f"{len(sending)} rows sending (missing: {sorted(sending - listed)[:5]})"
            )
        if not killed and returncode != 0 and any(w in output.lower() for w in _REFUSALS):
            self.problem(f"kill {number}: the restarted send refused to run: {output.strip()}")
        sent = sum(1 for state in states.values() if state == "sent")
        kill = Kill(number, how, round(delay, 2), killed, len(states), sent, len(new), integrity)
        self.result.kills.append(kill)

    def status_in_flight(self) -> set[str]:
        status = self.digest("status", "--week", str(WEEK))
        if status.returncode != 0:
            self.problem(f"digest status failed: {status.stderr.strip()}")
        return set(_IN_FLIGHT.findall(status.stdout))


def run_crash_loop(
    work: Path,
    *,
    subscribers: int,
    kills: int,
    seed: int,
    database_url: str | None = None,
    connections: int = 4,
    max_delay: float = 1.0,
) -> Result:
    """The whole loop in ``work``; the figures, and the problems found (none when all holds)."""
    started = time.monotonic()
    url = database_url or f"sqlite:///{work / 'ledger.db'}"
    addresses = [f"lecteur{i:06d}@example.org" for i in range(subscribers)]
    _fresh_ledger(url, addresses)
    result = Result(subscribers, connections, seed, url.split(":", 1)[0])
    sink_log = work / "taken.tsv"
    sink = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "reliability" / "sink.py"), "--log", str(sink_log)],
        stdout=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    try:
        assert sink.stdout is not None
        ready = sink.stdout.readline().split()
        if ready[:1] != ["READY"]:
            raise RuntimeError(f"the sink did not start: {ready}")
        config = _write_config(work, int(ready[1]), url, connections)
        loop = _Loop(work, config, url, sink_log, connections, result, addresses)
        _kill_again_and_again(loop, kills, random.Random(seed), max_delay)
        _finish(loop)
    finally:
        sink.send_signal(signal.SIGTERM)
        sink.wait(timeout=60)
        if sink.stdout is not None:
            sink.stdout.close()
    result.seconds = round(time.monotonic() - started, 1)
    return result


def _kill_again_and_again(loop: _Loop, kills: int, rng: random.Random, max_delay: float) -> None:
    """Each kill lands at a random point: one in five while the send starts up (opening the
    ledger, preparing the rows), one in five inside a transaction right after a random write
    statement, the others at a random time after messages begin to go."""
    for number in range(1, kills + 1):
        draw = rng.random()
        if draw < 0.2:
            _kill_once(loop, number, "start", rng.uniform(0.1, 1.0))
        elif draw < 0.4:
            _kill_once(loop, number, "write", rng.randint(1, 600))
        else:
            _kill_once(loop, number, "sending", rng.uniform(0.0, max_delay))


def _kill_once(loop: _Loop, number: int, how: str, delay: float) -> None:
    size = _size(loop.sink_log)
    if how == "write":
        process = loop.start_send(die_after_writes=int(delay))
        _wait(lambda: process.poll() is not None, _RUN_LIMIT)
    else:
        process = loop.start_send()
        if how == "sending":
            _wait(lambda: process.poll() is not None or _size(loop.sink_log) > size, _RUN_LIMIT)
        _wait(lambda: process.poll() is not None, delay)
    killed = process.poll() is None or process.returncode == -signal.SIGKILL
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    # Let the sink finish a message whose last bytes left before the kill.
    time.sleep(0.3)
    output = (loop.work / f"send-{loop.runs:02d}.log").read_text(errors="replace")
    loop.check_after(number, how, delay, killed, process.returncode, output)
    if not killed and process.returncode != 0:
        loop.problem(f"send {number} ended with {process.returncode}: {output.strip()[-300:]}")


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _wait(done: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not done() and time.monotonic() < deadline:
        time.sleep(0.01)


def _finish(loop: _Loop) -> None:
    result = loop.result
    begun = time.monotonic()
    last = loop.digest("send", "--week", str(WEEK))
    result.final_send_seconds = round(time.monotonic() - begun, 1)
    if last.returncode != 0:
        loop.problem(f"the final send failed: {(last.stdout + last.stderr).strip()[-300:]}")
    listed = loop.status_in_flight()
    if listed != loop.seen_unconfirmed:
        loop.problem(
            f"digest status lists {len(listed)} in flight after the last send; "
            f"{len(loop.seen_unconfirmed)} rows were left unconfirmed by the kills"
        )
    taken_before = Counter(address for address, _ in loop.taken())
    resend = loop.digest("send", "--week", str(WEEK), "--resend-unconfirmed")
    if resend.returncode != 0:
        loop.problem(f"--resend-unconfirmed failed: {(resend.stdout + resend.stderr).strip()}")
    taken = loop.taken()
    counts = Counter(address for address, _ in taken)
    resent = counts - taken_before
    if set(resent) != loop.seen_unconfirmed:
        loop.problem(f"--resend-unconfirmed sent {len(resent)} messages, not the unconfirmed rows")
    result.taken = len(taken)
    result.unconfirmed = len(loop.seen_unconfirmed)
    missing = [address for address in loop.addresses if address not in counts]
    result.missing = len(missing)
    if missing:
        loop.problem(f"{len(missing)} subscribers never reached the relay, e.g. {missing[:5]}")
    twice = {address for address, count in counts.items() if count > 1}
    result.taken_twice = len(twice)
    if not twice <= loop.seen_unconfirmed:
        extra = sorted(twice - loop.seen_unconfirmed)
        loop.problem(f"{len(extra)} acknowledged subscribers were sent again, e.g. {extra[:5]}")
    if max(counts.values(), default=0) > 2:
        loop.problem("someone was taken more than twice")
    ids: dict[str, set[str]] = {}
    for address, message_id in taken:
        ids.setdefault(address, set()).add(message_id)
    if any(len(found) > 1 for found in ids.values()):
        loop.problem("a subscriber got copies with different Message-IDs")
    states = Counter(loop.states().values())
    if states != Counter({"sent": len(loop.addresses)}):
        loop.problem(f"the ledger ends with {dict(states)}, not everyone sent")


def _fresh_ledger(url: str, addresses: list[str]) -> None:
    """An empty database (a PostgreSQL one is emptied first: give the loop its own database)
    with the subscribers and the saved issue of the week."""
    if not url.startswith("sqlite"):
        # PostgreSQL: every table goes, the schema version included.
        engine = sa.create_engine(url)
        try:
            with engine.begin() as conn:
                conn.execute(sa.text("DROP SCHEMA IF EXISTS public CASCADE"))
                conn.execute(sa.text("CREATE SCHEMA public"))
        finally:
            engine.dispose()
    ledger = Ledger(url)
    try:
        people = [Subscriber(address, f"Lecteur {i}") for i, address in enumerate(addresses)]
        ledger.add_subscribers(people, NOW)
        ledger.save_issue("Toujours+", WEEK, 1, ISSUE, "{}", NOW)
    finally:
        ledger.close()


def _write_config(work: Path, port: int, url: str, connections: int) -> Path:
    sending = "retry_base_seconds = 0.5\nretry_max_seconds = 2.0\n"
    if "worker_lease_seconds" in DeliverySettings.model_fields:
        # A killed sender's lease runs out quickly, so that a restart is not held up.
        sending += "worker_lease_seconds = 5\n"
    config = work / "digest.toml"
    config.write_text(
        f"""
[newsletter]
from_address = "lettre@example.org"
web_base_url = "https://lettre.example.org"
[smtp]
host = "127.0.0.1"
port = {port}
security = "none"
connections = {connections}
timeout = 10
[sending]
{sending}
[database]
url = "{url}"
""",
        encoding="utf-8",
    )
    return config


def _integrity(url: str) -> str:
    if not url.startswith("sqlite:///"):
        return "n/a"
    connection = sqlite3.connect(url.removeprefix("sqlite:///"))
    try:
        return str(connection.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        connection.close()


def _env() -> dict[str, str]:
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH", "")]))
    return {**os.environ, "DIGEST_SECRET_KEY": "crash-loop", "PYTHONPATH": path}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument(
        "--max-delay",
        type=float,
        default=1.0,
        help="seconds a send runs after its first message before the kill, at most",
    )
    parser.add_argument(
        "--database", help="database URL, emptied first (default: a SQLite file in --work)"
    )
    parser.add_argument(
        "--work", type=Path, help="folder for the ledger, logs (default: a temporary one)"
    )
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="crash-loop-"))
    work.mkdir(parents=True, exist_ok=True)
    result = run_crash_loop(
        work,
        subscribers=args.subscribers,
        kills=args.kills,
        seed=args.seed,
        database_url=args.database,
        connections=args.connections,
        max_delay=args.max_delay,
    )
    print(json.dumps(asdict(result), indent=1))
    print(
        f"{result.subscribers} subscribers, {len(result.kills)} kills "
        f"({result.mid_send} mid-send), "
        f"{result.taken} messages taken, {result.missing} missing, {result.unconfirmed} "
        f"unconfirmed at kills (max {max((k.new_unconfirmed for k in result.kills), default=0)} "
        f"a kill), {result.taken_twice} taken twice, all of them unconfirmed; "
        f"{result.seconds} s in all ({work})"
    )
    if result.problems:
        print("PROBLEMS:\n" + "\n".join(result.problems), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
