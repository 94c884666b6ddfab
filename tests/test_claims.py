"""Claims: no row is handed to two workers; a dead worker's rows go back to the pool."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from digest.ledger import Ledger
from digest.ledger.deliveries import Step
from digest.ledger.workers import WorkerIdentity
from digest.models import DeliveryState, Outcome
from tests.sendkit import NOW, prepare

LEASE = dt.timedelta(seconds=30)


@pytest.fixture
def ledger(database_url: str) -> Iterator[Ledger]:
    ledger = Ledger(database_url)
    yield ledger
    ledger.close()


def _worker(name: str, host: str = "elsewhere") -> WorkerIdentity:
    # Another machine's worker: only its lease says whether it lives.
    return WorkerIdentity(f"{host}:1:{name}", host, 1)


def test_workers_claiming_at_once_never_get_the_same_row(ledger: Ledger, database_url: str) -> None:
    saved = prepare(ledger, 3000)
    ledger.prepare_deliveries(saved.id, lambda email: f"<{email}>", NOW)
    workers = [_worker(f"w{i}") for i in range(4)]
    for worker in workers:
        ledger.register_worker(worker, saved.id, NOW, LEASE)
    # Four ledgers (four connection pools), as four processes would have.
    ledgers = [Ledger(database_url) for _ in workers]

    def claim_all(index: int) -> list[int]:
        taken: list[int] = []
        while page := ledgers[index].claim_page(saved.id, workers[index].id, 50, NOW):
            taken += [task.delivery_id for task in page]
        return taken

    try:
        with ThreadPoolExecutor(len(workers)) as pool:
            results = list(pool.map(claim_all, range(len(workers))))
    finally:
        for other in ledgers:
            other.close()
    every = [row for taken in results for row in taken]
    assert len(every) == len(set(every)) == 3000


def test_only_the_holder_starts_a_row(ledger: Ledger) -> None:
    saved = prepare(ledger, 2)
    ledger.prepare_deliveries(saved.id, lambda email: f"<{email}>", NOW)
    one, two = _worker("one"), _worker("two")
    for worker in (one, two):
        ledger.register_worker(worker, saved.id, NOW, LEASE)
    first, _ = ledger.claim_page(saved.id, one.id, 10, NOW)
    assert ledger.claim_page(saved.id, two.id, 10, NOW) == []
    assert ledger.journal([Step(first.delivery_id)], two.id, NOW) == [False]
    assert ledger.journal([Step(first.delivery_id)], one.id, NOW) == [True]


def test_a_worker_whose_lease_ended_loses_its_pending_rows_but_not_its_sending_ones(
    ledger: Ledger,
) -> None:
    saved = prepare(ledger, 3)
    ledger.prepare_deliveries(saved.id, lambda email: f"<{email}>", NOW)
    dead, alive = _worker("dead"), _worker("alive")
    ledger.register_worker(dead, saved.id, NOW, LEASE)
    sent, in_flight, untouched = ledger.claim_page(saved.id, dead.id, 10, NOW)
    ledger.journal([Step(sent.delivery_id), Step(in_flight.delivery_id)], dead.id, NOW)
    ledger.record(sent.delivery_id, Outcome(DeliveryState.SENT, 250, "ok"), NOW)

    later = NOW + LEASE + dt.timedelta(seconds=1)
    ledger.register_worker(alive, saved.id, later, LEASE)
    assert ledger.held_by_others(saved.id, alive.id, NOW) == 1
    assert ledger.held_by_others(saved.id, alive.id, later) == 0
    (reclaimed,) = ledger.claim_page(saved.id, alive.id, 10, later)
    assert reclaimed.delivery_id == untouched.delivery_id
    # The dead worker cannot start it any more, and its in-flight row is reported.
    assert ledger.journal([Step(untouched.delivery_id)], dead.id, later) == [False]
    assert ledger.unconfirmed(saved.id, later) == [in_flight.subscriber.email]
    assert ledger.unconfirmed(saved.id, NOW) == []
    assert [w.id for w in ledger.live_workers(saved.id, later)] == [alive.id]


def test_a_dead_process_on_this_machine_is_retired_at_once(ledger: Ledger) -> None:
    saved = prepare(ledger, 2)
    ledger.prepare_deliveries(saved.id, lambda email: f"<{email}>", NOW)
    here = WorkerIdentity.of_this_process()
    # No process has this id: pid_max is at most 2**22 on Linux.
    gone = WorkerIdentity(f"{here.host}:99999999:x", here.host, 99_999_999)
    ledger.register_worker(gone, saved.id, NOW, LEASE)
    ledger.claim_page(saved.id, gone.id, 1, NOW)
    assert ledger.live_workers(saved.id, NOW) == []
    assert ledger.retire_dead(saved.id, NOW) == [gone.id]
    # Its pending row went back to the pool.
    assert len(ledger.claim_page(saved.id, here.id, 10, NOW)) == 2
