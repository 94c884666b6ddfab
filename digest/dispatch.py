"""The send loop of one worker: pages of claimed rows, one task per connection,
group-committed ledger steps, retries.

Every row is marked "sending" and committed before its message leaves, and its answer
is committed before that connection's next row is marked: at any moment at most one row
per connection is "sending", so a crash leaves at most that many rows unconfirmed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import signal
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass

from digest.config import DeliverySettings
from digest.delivery import Sender
from digest.errors import DigestError, LedgerError
from digest.ledger import Ledger
from digest.ledger.deliveries import Step
from digest.ledger.workers import WorkerIdentity
from digest.models import DeliveryState, DeliveryTask, Outcome

Clock = Callable[[], dt.datetime]
_KEPT_ERRORS = 20  # errors listed in a report; the ledger keeps every one


@dataclass(frozen=True, slots=True)
class SendOptions:
    """What `digest send` was asked for beyond the defaults."""

    limit: int | None = None
    only: tuple[str, ...] = ()
    resend_unconfirmed: bool = False
    # One of several workers (`digest send --worker`): share the send with the live ones.
    join: bool = False


class Journal:
    """Ledger steps queued by the workers, written in one transaction per round."""

    def __init__(self, ledger: Ledger, clock: Clock, worker_id: str) -> None:
        self._ledger = ledger
        self._clock = clock
        self._worker_id = worker_id
        self._queue: list[tuple[Step | None, asyncio.Future[bool] | None]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    def open(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def start(self, delivery_id: int) -> bool:
        """Mark the row sending, durably; False when it was not pending any more."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._push(Step(delivery_id), future)
        return await future

    def finish(self, step: Step) -> None:
        """Queue the row's answer; it is committed no later than the next start."""
        self._push(step, None)

    async def flush(self) -> None:
        """Wait until every step queued so far is committed."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._push(None, future)
        await future

    async def close(self) -> None:
        """Write what is queued and stop."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task

    def _push(self, step: Step | None, future: asyncio.Future[bool] | None) -> None:
        if self._task is not None and self._task.done():
            raise LedgerError("the ledger stopped taking writes; see the error above")
        self._queue.append((step, future))
        self._wake.set()

    async def _loop(self) -> None:
        while True:
            if not self._queue:
                if self._closing:
                    return
                await self._wake.wait()
                self._wake.clear()
                continue
            batch, self._queue = self._queue, []
            await self._write(batch)

    async def _write(self, batch: list[tuple[Step | None, asyncio.Future[bool] | None]]) -> None:
        steps = [step for step, _ in batch if step is not None]
        try:
            results = await asyncio.to_thread(
                self._ledger.journal, steps, self._worker_id, self._clock()
            )
        except DigestError as exc:
            for _, future in batch:
                if future is not None and not future.done():
                    future.set_exception(exc)
            # Queued answers are lost with the database: their rows stay "sending",
            # reported as unconfirmed, never silently resent.
            raise
        answers = iter(results)
        for step, future in batch:
            ok = next(answers) if step is not None else True
            if future is not None and not future.done():
                future.set_result(ok)


class Dispatch:
    """One worker's send of one issue: every row it claims once, then the deferred ones."""

    def __init__(
        self,
        ledger: Ledger,
        sender: Sender,
        build: Callable[[DeliveryTask], bytes],
        *,
        envelope_from: str,
        settings: DeliverySettings,
        clock: Clock,
        connections: int,
        worker: WorkerIdentity,
        halt: asyncio.Event | None = None,
    ) -> None:
        self._ledger = ledger
        self._sender = sender
        self._build = build
        self._from = envelope_from
        self._settings = settings
        self._clock = clock
        self._connections = connections
        self.worker = worker
        self._lease = dt.timedelta(seconds=settings.worker_lease_seconds)
        self.halt = halt or asyncio.Event()
        self.reason = ""
        self.errors: deque[str] = deque(maxlen=_KEPT_ERRORS)
        self._budget: int | None = None
        self._failures_in_a_row = 0
        self._unreachable_in_a_row = 0

    async def run(self, issue_id: int, options: SendOptions) -> list[str]:
        """Send until nothing is left, the limit is reached, or a stop; the last errors."""
        self._budget = options.limit
        journal = Journal(self._ledger, self._clock, self.worker.id)
        journal.open()
        lease = asyncio.create_task(self._keep_lease())
        try:
            while not self.halt.is_set():
                await self._pass(issue_id, options, journal)
                await journal.flush()
                if not await self._wait_for_retries(issue_id):
                    break
        finally:
            lease.cancel()
            await journal.close()
        return list(self.errors)

    def stop(self, reason: str) -> None:
        """Stop at the next message boundary, saying why."""
        if not self.halt.is_set():
            self.reason = reason
            self.halt.set()

    async def _pass(self, issue_id: int, options: SendOptions, journal: Journal) -> None:
        queue: asyncio.Queue[DeliveryTask | None] = asyncio.Queue(maxsize=2 * self._connections)
        lanes = [asyncio.create_task(self._lane(queue, journal)) for _ in range(self._connections)]
        try:
            await self._produce(issue_id, options, queue)
        finally:
            for _ in lanes:
                await queue.put(None)
            await asyncio.gather(*lanes)

    async def _produce(
        self, issue_id: int, options: SendOptions, queue: asyncio.Queue[DeliveryTask | None]
    ) -> None:
        while not self.halt.is_set():
            # Counted before the claim: when no live worker held a pending row then and the
            # claim finds none either, nothing is left for anyone.
            held = await asyncio.to_thread(
                self._ledger.held_by_others, issue_id, self.worker.id, self._clock()
            )
            page = await asyncio.to_thread(
                self._ledger.claim_page,
                issue_id,
                self.worker.id,
                self._settings.page_size,
                self._clock(),
                options.only,
            )
            if not page:
                if not held:
                    return
                # Other workers still hold rows: should one of them die, its rows come
                # back to the pool when its lease ends, and this worker takes them.
                with suppress(TimeoutError):
                    await asyncio.wait_for(self.halt.wait(), timeout=min(self._poll, 1.0))
                continue
            for task in page:
                if self.halt.is_set():
                    return
                await queue.put(task)

    @property
    def _poll(self) -> float:
        return self._lease.total_seconds() / 3

    async def _keep_lease(self) -> None:
        """Renew the worker's lease while the send runs; without it, stop sending."""
        while not self.halt.is_set():
            with suppress(TimeoutError):
                await asyncio.wait_for(self.halt.wait(), timeout=self._poll)
            if self.halt.is_set():
                return
            try:
                kept = await asyncio.to_thread(
                    self._ledger.renew_worker, self.worker.id, self._clock(), self._lease
                )
            except DigestError as exc:
                self.stop(f"worker {self.worker.id} cannot renew its lease: {exc}")
                return
            if not kept:
                self.stop(
                    f"worker {self.worker.id} was retired by another process; "
                    "its pending rows went back to the pool"
                )
                return

    async def _lane(self, queue: asyncio.Queue[DeliveryTask | None], journal: Journal) -> None:
        """One connection's turn: build, start, send, answer; one row at a time."""
        while (task := await queue.get()) is not None:
            if self.halt.is_set() or not self._take_budget():
                continue
            try:
                message = self._build(task)
            except DigestError as exc:
                journal.finish(
                    Step(task.delivery_id, Outcome(DeliveryState.FAILED, None, str(exc)))
                )
                self.errors.append(f"{task.subscriber.email}: {exc}")
                continue
            if not await journal.start(task.delivery_id):
                continue
            outcome = await self._sender.send(self._from, task.subscriber.email, message)
            journal.finish(self._step(task, outcome))
            self._tally(task, outcome)

    def _take_budget(self) -> bool:
        if self._budget is None:
            return True
        if self._budget <= 0:
            self.stop("")
            return False
        self._budget -= 1
        return True

    def _step(self, task: DeliveryTask, outcome: Outcome) -> Step:
        """The ledger step for an answer: a deferral gets its retry time, or gives up."""
        if outcome.state is not DeliveryState.DEFERRED:
            return Step(task.delivery_id, outcome, relay=outcome.relay)
        attempt = task.attempts + 1
        # No relay reached: the attempt is given back in the ledger, never a give-up.
        if attempt >= self._settings.max_attempts and not outcome.unreachable:
            reply = f"gave up after {attempt} attempts: {outcome.reply}"
            failed = Outcome(DeliveryState.FAILED, outcome.code, reply, outcome.relay)
            return Step(task.delivery_id, failed, relay=outcome.relay)
        retry_at = self._clock() + dt.timedelta(seconds=self.backoff(attempt))
        return Step(task.delivery_id, outcome, retry_at=retry_at, relay=outcome.relay)

    def backoff(self, attempt: int) -> float:
        """Seconds before retry ``attempt + 1``: exponential, capped, half of it jittered."""
        s = self._settings
        ceiling = float(min(s.retry_base_seconds * 2 ** (attempt - 1), s.retry_max_seconds))
        # "Equal jitter": retries of a relay's burst of 4xx spread over half the delay.
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def _tally(self, task: DeliveryTask, outcome: Outcome) -> None:
        if outcome.unreachable:
            self._tally_outage(outcome)
            return
        self._unreachable_in_a_row = 0
        if outcome.state is DeliveryState.SENT:
            self._failures_in_a_row = 0
            return
        if outcome.state is DeliveryState.BOUNCED or outcome.state is DeliveryState.SENDING:
            self.errors.append(f"{task.subscriber.email}: {outcome.code or ''} {outcome.reply}")
            return
        if outcome.state is not DeliveryState.FAILED:
            return
        self._failures_in_a_row += 1
        self.errors.append(f"{task.subscriber.email}: {outcome.code or ''} {outcome.reply}")
        if self._failures_in_a_row >= self._settings.pause_after_failures:
            self.stop(
                f"paused after {self._failures_in_a_row} failures in a row: the relay refuses "
                f"the messages ({outcome.code or ''} {outcome.reply}); fix the cause and run "
                "'digest send' again to resume"
            )

    def _tally_outage(self, outcome: Outcome) -> None:
        self._unreachable_in_a_row += 1
        if self._unreachable_in_a_row >= self._settings.pause_after_failures:
            self.stop(
                f"no SMTP relay reachable ({outcome.reply}): the remaining messages are kept; "
                "run 'digest send' again once the relay is back"
            )

    async def _wait_for_retries(self, issue_id: int) -> bool:
        """Wait for the next deferred row to be due; False when none is left or on a stop."""
        while not self.halt.is_set():
            if self._budget is not None and self._budget <= 0:
                return False
            due = await asyncio.to_thread(self._ledger.next_retry, issue_id)
            if due is None:
                return False
            delay = (due - self._clock()).total_seconds()
            if delay > 0:
                with suppress(TimeoutError):
                    await asyncio.wait_for(self.halt.wait(), timeout=delay)
                if self.halt.is_set():
                    return False
            # max(): a frozen test clock still reaches the time that was waited for.
            moment = max(self._clock(), due)
            if await asyncio.to_thread(self._ledger.requeue_due, issue_id, moment):
                return True
        return False


@contextmanager
def stop_on_signals(dispatch_halt: Callable[[str], None]) -> Iterator[None]:
    """SIGINT and SIGTERM stop the send at the next message boundary."""
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            reason = (
                f"stopped by {sig.name} at a message boundary; run 'digest send' again to resume"
            )
            loop.add_signal_handler(sig, dispatch_halt, reason)
            installed.append(sig)
        except (NotImplementedError, RuntimeError):
            continue
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
