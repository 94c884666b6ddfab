"""The deliveries of an issue: one row per (issue, subscriber).

A row moves pending -> sending -> sent | deferred | bounced | failed, or to suppressed
when its subscriber left before it was sent. A row is marked sending, and committed,
before its message leaves; a row found in sending later was in flight at a stop: it is
reported by address and resent only on request.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass

import sqlalchemy as sa

from digest.ledger.bounce_record import record_send_bounce
from digest.ledger.sql import insert_missing, refresh_statistics
from digest.ledger.tables import deliveries, delivery_replies, send_workers, subscribers
from digest.models import DeliveryState, DeliveryTask, Outcome, Subscriber

ACTIVE = "active"
_OPEN = (DeliveryState.PENDING.value, DeliveryState.DEFERRED.value)
_ERRORS = (DeliveryState.DEFERRED.value, DeliveryState.BOUNCED.value, DeliveryState.FAILED.value)


@dataclass(frozen=True, slots=True)
class Step:
    """One change to a row: start it (pending -> sending) or store the relay's answer."""

    delivery_id: int
    outcome: Outcome | None = None
    retry_at: dt.datetime | None = None
    relay: str = ""


@dataclass(frozen=True, slots=True)
class DeliveryError:
    """A row whose last answer was not a success, for `digest status`."""

    email: str
    state: str
    code: int | None
    reply: str
    at: dt.datetime


@dataclass(frozen=True, slots=True)
class DeliveryReply:
    """One answer to a delivery that was not an acceptance."""

    at: dt.datetime
    state: str
    code: int | None
    reply: str
    relay: str | None


@dataclass(frozen=True, slots=True)
class AddressReplies:
    """One subscriber's row for an issue and the refusals it met on the way."""

    email: str
    state: str
    attempts: int
    code: int | None
    reply: str
    at: dt.datetime
    history: tuple[DeliveryReply, ...]


class DeliveryBook:
    """Delivery rows; mixed into Ledger, which provides ``_tx``."""

    _tx: Callable[[], AbstractContextManager[sa.Connection]]

    def prepare_deliveries(
        self,
        issue_id: int,
        message_id_for: Callable[[str], str],
        now: dt.datetime,
        page: int = 5000,
    ) -> int:
        """Insert a pending row for every active subscriber not yet in the issue, page by page.

        Each page is two index lookups (the next subscribers by id, then which of them have
        a row), whatever the planner's statistics say; they are refreshed on PostgreSQL
        before (a list just imported) and after (the rows just added), so that the claims
        that follow read the index too."""
        with self._tx() as conn:
            refresh_statistics(conn, subscribers)
        added, after, next_refresh = 0, 0, 8 * page
        while True:
            if added >= next_refresh:
                # The table grows under the planner's eyes: sampled again at 8, 16, 32...
                # pages, so the lookups below keep to the index (a few ANALYZEs in all).
                with self._tx() as conn:
                    refresh_statistics(conn, deliveries)
                next_refresh *= 2
            with self._tx() as conn:
                people = conn.execute(_active_after(after, page)).all()
                if not people:
                    break
                present = set(conn.execute(_present(issue_id, [p.id for p in people])).scalars())
                fresh = [p for p in people if p.id not in present]
                # Several workers may prepare at once: a row another one added is kept.
                insert_missing(
                    conn,
                    deliveries,
                    [
                        _pending_row(issue_id, p.id, p.email, message_id_for(p.email), now)
                        for p in fresh
                    ],
                )
            added += len(fresh)
            after = int(people[-1].id)
        if added:
            with self._tx() as conn:
                refresh_statistics(conn, deliveries)
        return added

    def suppress_inactive(self, issue_id: int, now: dt.datetime) -> int:
        """Rows not yet sent whose subscriber is no longer active become suppressed."""
        gone = sa.select(subscribers.c.id).where(subscribers.c.status != ACTIVE)
        with self._tx() as conn:
            result = conn.execute(
                deliveries.update()
                .where(
                    deliveries.c.issue_id == issue_id,
                    deliveries.c.state.in_(_OPEN),
                    deliveries.c.subscriber_id.in_(gone),
                )
                .values(state=DeliveryState.SUPPRESSED.value, updated_at=now)
            )
        return int(result.rowcount)

    def claim_page(
        self,
        issue_id: int,
        worker_id: str,
        limit: int,
        now: dt.datetime,
        only: Collection[str] = (),
    ) -> list[DeliveryTask]:
        """Claim up to ``limit`` pending rows for the worker, in id order; no row is handed to
        two workers. Rows free to claim: unclaimed, or held by a worker whose lease ended.
        Rows of subscribers who left meanwhile become suppressed instead."""
        lapsed = sa.select(send_workers.c.id).where(
            sa.or_(send_workers.c.expires_at <= now, send_workers.c.stopped_at.is_not(None))
        )
        pick = (
            sa.select(deliveries.c.id)
            .where(
                deliveries.c.issue_id == issue_id,
                deliveries.c.state == DeliveryState.PENDING.value,
                sa.or_(deliveries.c.claimed_by.is_(None), deliveries.c.claimed_by.in_(lapsed)),
            )
            .order_by(deliveries.c.id)
            .limit(limit)
            # PostgreSQL: rows another worker is claiming right now are passed over, not
            # waited for. SQLite runs one writer at a time and needs no such clause.
            .with_for_update(skip_locked=True)
        )
        if only:
            pick = pick.where(deliveries.c.email.in_(list(only)))
        with self._tx() as conn:
            claimed = (
                conn.execute(
                    deliveries.update()
                    .where(deliveries.c.id.in_(pick))
                    .values(claimed_by=worker_id)
                    .returning(deliveries.c.id)
                )
                .scalars()
                .all()
            )
            if not claimed:
                return []
            rows = conn.execute(
                sa.select(
                    deliveries.c.id,
                    deliveries.c.message_id,
                    deliveries.c.attempts,
                    subscribers.c.id.label("sid"),
                    subscribers.c.email,
                    subscribers.c.name,
                    subscribers.c.status,
                )
                .join(subscribers, subscribers.c.id == deliveries.c.subscriber_id)
                .where(deliveries.c.id.in_(claimed))
                .order_by(deliveries.c.id)
            ).all()
            gone = [r.id for r in rows if r.status != ACTIVE]
            if gone:
                conn.execute(
                    deliveries.update()
                    .where(deliveries.c.id.in_(gone), deliveries.c.state == _OPEN[0])
                    .values(state=DeliveryState.SUPPRESSED.value, updated_at=now)
                )
        return [
            DeliveryTask(r.id, Subscriber(r.email, r.name, r.sid), r.message_id, r.attempts)
            for r in rows
            if r.status == ACTIVE
        ]

    def held_by_others(self, issue_id: int, worker_id: str, now: dt.datetime) -> int:
        """Pending rows held by other workers whose lease still runs (they may yet fail)."""
        live = sa.select(send_workers.c.id).where(
            send_workers.c.expires_at > now,
            send_workers.c.stopped_at.is_(None),
            send_workers.c.id != worker_id,
        )
        with self._tx() as conn:
            value = conn.execute(
                sa.select(sa.func.count()).where(
                    deliveries.c.issue_id == issue_id,
                    deliveries.c.state == DeliveryState.PENDING.value,
                    deliveries.c.claimed_by.in_(live),
                )
            ).scalar()
        return int(value or 0)

    def journal(self, steps: Sequence[Step], worker_id: str, now: dt.datetime) -> list[bool]:
        """Apply steps in one transaction; a start is False when the row was no longer pending
        or no longer held by the worker."""
        # Answers first, then starts, each as one statement: a round of N connections costs
        # two statements and one commit, not 2N statements.
        with self._tx() as conn:
            _finish_all(conn, [step for step in steps if step.outcome is not None], now)
            starts = [s.delivery_id for s in steps if s.outcome is None]
            started = _start_all(conn, starts, worker_id, now)
        return [step.outcome is not None or _take(started, step.delivery_id) for step in steps]

    def record(self, delivery_id: int, outcome: Outcome, now: dt.datetime) -> None:
        """Store the relay's classified answer on the row."""
        self.journal([Step(delivery_id, outcome)], "", now)

    def requeue_due(self, issue_id: int, now: dt.datetime) -> int:
        """Deferred rows whose retry time has come go back to pending."""
        with self._tx() as conn:
            result = conn.execute(
                deliveries.update()
                .where(
                    deliveries.c.issue_id == issue_id,
                    deliveries.c.state == DeliveryState.DEFERRED.value,
                    sa.or_(deliveries.c.retry_at.is_(None), deliveries.c.retry_at <= now),
                )
                .values(state=DeliveryState.PENDING.value, claimed_by=None, updated_at=now)
            )
        return int(result.rowcount)

    def next_retry(self, issue_id: int) -> dt.datetime | None:
        """The earliest retry time of the issue's deferred rows, if any."""
        with self._tx() as conn:
            value = conn.execute(
                sa.select(sa.func.min(deliveries.c.retry_at)).where(
                    deliveries.c.issue_id == issue_id,
                    deliveries.c.state == DeliveryState.DEFERRED.value,
                )
            ).scalar()
        return value

    def resend_unconfirmed(
        self, issue_id: int, live: Collection[str], now: dt.datetime
    ) -> list[str]:
        """Rows left in sending by a stopped or dead worker go back to pending (asked for
        explicitly); returns the addresses. Rows of the ``live`` workers are left alone."""
        addresses = self.in_flight(issue_id, live)
        with self._tx() as conn:
            conn.execute(
                deliveries.update()
                .where(
                    deliveries.c.issue_id == issue_id,
                    deliveries.c.state == DeliveryState.SENDING.value,
                    _not_held_by(live),
                )
                .values(state=DeliveryState.PENDING.value, claimed_by=None, updated_at=now)
            )
        return addresses

    def in_flight(self, issue_id: int, live: Collection[str] = ()) -> list[str]:
        """Addresses whose row is still 'sending' with no live worker behind it: in flight
        when a send stopped, their fate unknown."""
        with self._tx() as conn:
            return list(
                conn.execute(
                    sa.select(deliveries.c.email)
                    .where(
                        deliveries.c.issue_id == issue_id,
                        deliveries.c.state == DeliveryState.SENDING.value,
                        _not_held_by(live),
                    )
                    .order_by(deliveries.c.id)
                ).scalars()
            )

    def counts(self, issue_id: int) -> dict[str, int]:
        """Number of rows per state for the issue."""
        with self._tx() as conn:
            rows = conn.execute(
                sa.select(deliveries.c.state, sa.func.count())
                .where(deliveries.c.issue_id == issue_id)
                .group_by(deliveries.c.state)
            )
            return {str(row[0]): int(row[1]) for row in rows}

    def recent_errors(self, issue_id: int, limit: int = 5) -> list[DeliveryError]:
        """The last rows deferred, bounced or failed, newest first."""
        with self._tx() as conn:
            rows = conn.execute(
                sa.select(
                    deliveries.c.email,
                    deliveries.c.state,
                    deliveries.c.smtp_code,
                    deliveries.c.smtp_reply,
                    deliveries.c.updated_at,
                )
                .where(deliveries.c.issue_id == issue_id, deliveries.c.state.in_(_ERRORS))
                .order_by(deliveries.c.updated_at.desc(), deliveries.c.id.desc())
                .limit(limit)
            ).all()
        return [
            DeliveryError(r.email, r.state, r.smtp_code, r.smtp_reply, r.updated_at) for r in rows
        ]

    def replies_to(self, issue_id: int, email: str) -> AddressReplies | None:
        """The row of ``email`` for the issue and every answer it had that was not an
        acceptance, oldest first; None when the issue has no row for that address."""
        with self._tx() as conn:
            row = conn.execute(
                sa.select(
                    deliveries.c.id,
                    deliveries.c.state,
                    deliveries.c.attempts,
                    deliveries.c.smtp_code,
                    deliveries.c.smtp_reply,
                    deliveries.c.updated_at,
                ).where(
                    # By the subscriber's unique address, then the (issue, subscriber) key:
                    # two index probes, where the row's own copy of the address has none.
                    deliveries.c.issue_id == issue_id,
                    deliveries.c.subscriber_id
                    == sa.select(subscribers.c.id)
                    .where(subscribers.c.email == email)
                    .scalar_subquery(),
                )
            ).first()
            if row is None:
                return None
            history = conn.execute(
                sa.select(
                    delivery_replies.c.at,
                    delivery_replies.c.state,
                    delivery_replies.c.smtp_code,
                    delivery_replies.c.smtp_reply,
                    delivery_replies.c.relay,
                )
                .where(delivery_replies.c.delivery_id == row.id)
                .order_by(delivery_replies.c.id)
            ).all()
        return AddressReplies(
            email,
            row.state,
            row.attempts,
            row.smtp_code,
            row.smtp_reply,
            row.updated_at,
            tuple(
                DeliveryReply(h.at, h.state, h.smtp_code, h.smtp_reply, h.relay) for h in history
            ),
        )

    def sent_since(self, issue_id: int, since: dt.datetime) -> int:
        """How many of the issue's rows were acknowledged since ``since``."""
        with self._tx() as conn:
            value = conn.execute(
                sa.select(sa.func.count()).where(
                    deliveries.c.issue_id == issue_id,
                    deliveries.c.state == DeliveryState.SENT.value,
                    deliveries.c.updated_at >= since,
                )
            ).scalar()
        return int(value or 0)

    def unsent_subscribers(
        self, issue_id: int, after_id: int, limit: int, only: Collection[str] = ()
    ) -> list[Subscriber]:
        """Active subscribers with no row, or a row not yet sent, after ``after_id`` (dry run)."""
        done = (
            sa.select(deliveries.c.id)
            .where(
                deliveries.c.issue_id == issue_id,
                deliveries.c.subscriber_id == subscribers.c.id,
                deliveries.c.state.not_in(_OPEN),
            )
            .exists()
        )
        query = (
            sa.select(subscribers.c.id, subscribers.c.email, subscribers.c.name)
            .where(
                subscribers.c.status == ACTIVE,
                subscribers.c.id > after_id,
                ~done,
            )
            .order_by(subscribers.c.id)
            .limit(limit)
        )
        if only:
            query = query.where(subscribers.c.email.in_(list(only)))
        with self._tx() as conn:
            rows = conn.execute(query).all()
        return [Subscriber(r.email, r.name, r.id) for r in rows]


def _active_after(after: int, page: int) -> sa.Select[tuple[int, str]]:
    return (
        sa.select(subscribers.c.id, subscribers.c.email)
        .where(subscribers.c.status == ACTIVE, subscribers.c.id > after)
        .order_by(subscribers.c.id)
        .limit(page)
    )


def _present(issue_id: int, subscriber_ids: list[int]) -> sa.Select[tuple[int]]:
    return sa.select(deliveries.c.subscriber_id).where(
        deliveries.c.issue_id == issue_id, deliveries.c.subscriber_id.in_(subscriber_ids)
    )


def _pending_row(
    issue_id: int, sid: int, email: str, message_id: str, now: dt.datetime
) -> dict[str, object]:
    return {
        "issue_id": issue_id,
        "subscriber_id": sid,
        "email": email,
        "state": DeliveryState.PENDING.value,
        "message_id": message_id,
        "smtp_reply": "",
        "attempts": 0,
        "updated_at": now,
    }


def _not_held_by(live: Collection[str]) -> sa.ColumnElement[bool]:
    if not live:
        return sa.true()
    return sa.or_(deliveries.c.claimed_by.is_(None), deliveries.c.claimed_by.not_in(list(live)))


# The two statements of every round, in the driver's own spelling: a round runs them as
# they are, with no expression built, compiled or looked up in a cache (that Python cost
# was most of a commit, and the event loop waits for the GIL while it runs).
# The state guard makes a row startable once, even with two senders at work; the claim
# guard lets only the holder start it (a worker whose lease ran out may have lost it); the
# status guard makes an unsubscribe count before the next message, not the next page.
_START_SQL = (
    "UPDATE deliveries SET state = '{sending}', attempts = attempts + 1, updated_at = {p} "
    "WHERE id IN ({ids}) AND state = '{pending}' AND claimed_by = {p} AND EXISTS "
    "(SELECT 1 FROM subscribers WHERE subscribers.id = deliveries.subscriber_id "
    "AND subscribers.status = '{active}') RETURNING id"
)
# An answer that no relay could give (all unreachable) gives the start's attempt back: an
# outage spends nobody's attempts.
_FINISH_SQL = (
    "UPDATE deliveries SET state = {p}, smtp_code = {p}, smtp_reply = {p}, retry_at = {p}, "
    "relay = {p}, updated_at = {p}, attempts = attempts - {p} WHERE id = {p}"
)
_REPLY_SQL = (
    "INSERT INTO delivery_replies (delivery_id, at, state, smtp_code, smtp_reply, relay) "
    "VALUES ({p}, {p}, {p}, {p}, {p}, {p})"
)
_Stamp = Callable[[dt.datetime | None], object]


@dataclass(frozen=True, slots=True)
class _Spelling:
    """The hot statements and the time format, for one dialect."""

    placeholder: str
    finish: str
    reply: str
    stamp: _Stamp


_SPELLINGS: dict[tuple[str, str], _Spelling] = {}


def _spelling(dialect: sa.Dialect) -> _Spelling:
    key = (dialect.name, dialect.paramstyle)
    found = _SPELLINGS.get(key)
    if found is None:
        p = "?" if dialect.paramstyle == "qmark" else "%s"
        # The column type's own conversion (UTC; SQLite's text form), as Core would bind it.
        convert = deliveries.c.updated_at.type.dialect_impl(dialect).bind_processor(dialect)
        stamp: _Stamp = convert if convert is not None else (lambda moment: moment)
        found = _SPELLINGS[key] = _Spelling(
            p, _FINISH_SQL.format(p=p), _REPLY_SQL.format(p=p), stamp
        )
    return found


def _start_all(conn: sa.Connection, ids: list[int], worker_id: str, now: dt.datetime) -> set[int]:
    """Mark the rows sending; the ids of those that were still startable by the worker."""
    if not ids:
        return set()
    spelling = _spelling(conn.dialect)
    sql = _START_SQL.format(
        p=spelling.placeholder,
        ids=", ".join([spelling.placeholder] * len(ids)),
        sending=DeliveryState.SENDING.value,
        pending=DeliveryState.PENDING.value,
        active=ACTIVE,
    )
    result = conn.exec_driver_sql(sql, (spelling.stamp(now), *ids, worker_id))
    return {int(row_id) for row_id in result.scalars()}


def _take(started: set[int], delivery_id: int) -> bool:
    # A row asked to start twice in one round starts once: only the first ask is True.
    if delivery_id not in started:
        return False
    started.discard(delivery_id)
    return True


def _finish_all(conn: sa.Connection, steps: list[Step], now: dt.datetime) -> None:
    """Store the answers in one executemany; a bounce also goes on the bounce record.

    An answer that was not an acceptance is also added to the row's history of replies.
    """
    if not steps:
        return
    spelling = _spelling(conn.dialect)
    at = spelling.stamp(now)
    rows = []
    bounces = []
    refusals = []
    for step in steps:
        outcome = step.outcome
        assert outcome is not None
        state, reply, relay = outcome.state.value, outcome.reply[:2000], step.relay or None
        if outcome.state is DeliveryState.BOUNCED:
            bounces.append((step.delivery_id, outcome))
        if outcome.state is not DeliveryState.SENT:
            refusals.append((step.delivery_id, at, state, outcome.code, reply, relay))
        rows.append(
            (
                state,
                outcome.code,
                reply,
                spelling.stamp(step.retry_at) if step.retry_at is not None else None,
                relay,
                at,
                1 if outcome.unreachable else 0,
                step.delivery_id,
            )
        )
    conn.exec_driver_sql(spelling.finish, rows)
    if refusals:
        conn.exec_driver_sql(spelling.reply, refusals)
    for delivery_id, outcome in bounces:
        record_send_bounce(conn, delivery_id, outcome, now)
