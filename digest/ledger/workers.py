"""Send workers: each process sending an issue registers, renews a lease, and retires.

A worker is live while its lease runs and it has not retired; on this machine, a worker
whose process is gone is dead at once (no need to wait for its lease after a crash).
Rows a dead worker held as pending go back to the pool; rows it held as sending were in
flight at its death: reported, never silently resent.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import socket
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass

import sqlalchemy as sa

from digest.ledger.tables import deliveries, send_workers
from digest.models import DeliveryState


@dataclass(frozen=True, slots=True)
class WorkerIdentity:
    """Who a worker is: its id (host:pid:random) names it in the ledger and in logs."""

    id: str
    host: str
    pid: int

    @classmethod
    def of_this_process(cls) -> WorkerIdentity:
        host = this_host()
        pid = os.getpid()
        return cls(f"{host}:{pid}:{secrets.token_hex(3)}", host, pid)


@dataclass(frozen=True, slots=True)
class WorkerRecord:
    """A worker as the ledger knows it, with the rows it sent."""

    id: str
    host: str
    pid: int
    started_at: dt.datetime
    expires_at: dt.datetime
    stopped_at: dt.datetime | None
    sent: int

    def live(self, now: dt.datetime) -> bool:
        if self.stopped_at is not None or self.expires_at <= now:
            return False
        return self.host != this_host() or process_exists(self.pid)


def this_host() -> str:
    """This machine's name, as workers record it (the column holds 200 characters)."""
    return socket.gethostname()[:100]


def process_exists(pid: int) -> bool:
    """Whether a process with this id runs on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class WorkerBook:
    """Worker leases; mixed into Ledger, which provides ``_tx``."""

    _tx: Callable[[], AbstractContextManager[sa.Connection]]

    def register_worker(
        self, worker: WorkerIdentity, issue_id: int, now: dt.datetime, lease: dt.timedelta
    ) -> None:
        """Start the worker's lease for the issue."""
        with self._tx() as conn:
            conn.execute(
                send_workers.insert().values(
                    id=worker.id,
                    issue_id=issue_id,
                    host=worker.host,
                    pid=worker.pid,
                    started_at=now,
                    expires_at=now + lease,
                )
            )

    def renew_worker(self, worker_id: str, now: dt.datetime, lease: dt.timedelta) -> bool:
        """Extend the lease; False when the worker was retired meanwhile (it must stop)."""
        with self._tx() as conn:
            result = conn.execute(
                send_workers.update()
                .where(send_workers.c.id == worker_id, send_workers.c.stopped_at.is_(None))
                .values(expires_at=now + lease)
            )
        return result.rowcount > 0

    def retire_worker(self, worker_id: str, now: dt.datetime) -> int:
        """End the lease and give back the pending rows still held; how many were given back."""
        with self._tx() as conn:
            conn.execute(
                send_workers.update()
                .where(send_workers.c.id == worker_id)
                .values(stopped_at=now, expires_at=now)
            )
            released = conn.execute(
                deliveries.update()
                .where(
                    deliveries.c.claimed_by == worker_id,
                    deliveries.c.state == DeliveryState.PENDING.value,
                )
                .values(claimed_by=None)
            )
        return int(released.rowcount)

    def retire_dead(self, issue_id: int, now: dt.datetime) -> list[str]:
        """Retire the workers of the issue that are not live any more; their ids."""
        dead = [
            w.id
            for w in self.workers(issue_id, count_sent=False)
            if w.stopped_at is None and not w.live(now)
        ]
        for worker_id in dead:
            self.retire_worker(worker_id, now)
        return dead

    def workers(self, issue_id: int, *, count_sent: bool = True) -> list[WorkerRecord]:
        """Every worker that took part in the issue's send, first started first; without
        ``count_sent`` (a liveness check), their ``sent`` is 0 and no delivery is read."""
        if not count_sent:
            with self._tx() as conn:
                rows = conn.execute(
                    sa.select(send_workers)
                    .where(send_workers.c.issue_id == issue_id)
                    .order_by(send_workers.c.started_at, send_workers.c.id)
                ).all()
            return [
                WorkerRecord(r.id, r.host, r.pid, r.started_at, r.expires_at, r.stopped_at, 0)
                for r in rows
            ]
        sent = (
            sa.select(deliveries.c.claimed_by, sa.func.count().label("sent"))
            .where(
                deliveries.c.issue_id == issue_id,
                deliveries.c.state == DeliveryState.SENT.value,
            )
            .group_by(deliveries.c.claimed_by)
            .subquery()
        )
        query = (
            sa.select(send_workers, sa.func.coalesce(sent.c.sent, 0).label("sent"))
            .outerjoin(sent, sent.c.claimed_by == send_workers.c.id)
            .where(send_workers.c.issue_id == issue_id)
            .order_by(send_workers.c.started_at, send_workers.c.id)
        )
        with self._tx() as conn:
            rows = conn.execute(query).all()
        return [
            WorkerRecord(r.id, r.host, r.pid, r.started_at, r.expires_at, r.stopped_at, int(r.sent))
            for r in rows
        ]

    def live_workers(self, issue_id: int, now: dt.datetime) -> list[WorkerRecord]:
        """The issue's workers that are live now."""
        return [w for w in self.workers(issue_id, count_sent=False) if w.live(now)]
