"""The ledger: the only code that reads and writes the database.

One row per (issue, subscriber) in ``deliveries``, unique. A row moves
pending -> sending -> sent | deferred | bounced | failed; a row found in ``sending``
when a send starts was in flight at a crash: it is reported, never silently resent.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from digest.errors import LedgerError
from digest.ledger.tables import deliveries, issues, metadata, subscribers
from digest.models import (
    DeliveryState,
    DeliveryTask,
    IsoWeek,
    Outcome,
    RenderedIssue,
    SavedIssue,
    Subscriber,
)

ACTIVE = "active"


class Ledger:
    """Subscribers, saved issues and deliveries in one SQL database."""

    def __init__(self, url: str) -> None:
        try:
            self._engine = sa.create_engine(url)
            if self._engine.dialect.name == "sqlite":
                sa.event.listen(self._engine, "connect", _sqlite_pragmas)
            metadata.create_all(self._engine)
        except SQLAlchemyError as exc:
            raise LedgerError(f"cannot open database {_safe_url(url)}: {_reason(exc)}") from exc
        except ModuleNotFoundError as exc:
            raise LedgerError(
                f"database {_safe_url(url)} needs the {exc.name} driver: "
                "pip install 'digest[postgresql]'"
            ) from exc

    def close(self) -> None:
        self._engine.dispose()

    @contextmanager
    def _tx(self) -> Iterator[sa.Connection]:
        try:
            with self._engine.begin() as conn:
                yield conn
        except IntegrityError:
            raise
        except SQLAlchemyError as exc:
            raise LedgerError(f"database error: {_reason(exc)}") from exc

    # -- subscribers -----------------------------------------------------------------

    def add_subscriber(self, email: str, name: str, now: dt.datetime) -> bool:
        """Add an active subscriber; False when the address is already on the list."""
        try:
            with self._tx() as conn:
                conn.execute(
                    subscribers.insert().values(
                        email=email, name=name, status=ACTIVE, created_at=now
                    )
                )
        except IntegrityError:
            return False
        return True

    def add_subscribers(self, people: Iterable[Subscriber], now: dt.datetime) -> int:
        """Add many subscribers in one transaction; returns how many were new."""
        with self._tx() as conn:
            known = set(conn.execute(sa.select(subscribers.c.email)).scalars())
            fresh = [p for p in people if p.email not in known]
            if fresh:
                conn.execute(
                    subscribers.insert(),
                    [
                        {"email": p.email, "name": p.name, "status": ACTIVE, "created_at": now}
                        for p in fresh
                    ],
                )
        return len(fresh)

    def list_subscribers(self, *, active_only: bool = True) -> list[tuple[Subscriber, str]]:
        """Subscribers with their status, oldest first."""
        query = sa.select(
            subscribers.c.id, subscribers.c.email, subscribers.c.name, subscribers.c.status
        ).order_by(subscribers.c.id)
        if active_only:
            query = query.where(subscribers.c.status == ACTIVE)
        with self._tx() as conn:
            rows = conn.execute(query).all()
        return [(Subscriber(r.email, r.name, r.id), r.status) for r in rows]

    def set_subscriber_status(self, email: str, status: str) -> bool:
        """Change a subscriber's status; False when the address is unknown."""
        with self._tx() as conn:
            result = conn.execute(
                subscribers.update().where(subscribers.c.email == email).values(status=status)
            )
        return result.rowcount > 0

    # -- issues ----------------------------------------------------------------------

    def issue_number_for(self, newsletter: str, week: IsoWeek) -> int:
        """The week's number if saved already, else the next number of the newsletter."""
        with self._tx() as conn:
            existing = conn.execute(
                sa.select(issues.c.number).where(
                    issues.c.newsletter == newsletter, issues.c.week == str(week)
                )
            ).scalar()
            if existing is not None:
                return int(existing)
            highest = conn.execute(
                sa.select(sa.func.max(issues.c.number)).where(issues.c.newsletter == newsletter)
            ).scalar()
        return int(highest or 0) + 1

    def save_issue(
        self,
        newsletter: str,
        week: IsoWeek,
        number: int,
        rendered: RenderedIssue,
        issue_json: str,
        now: dt.datetime,
    ) -> SavedIssue:
        """Save (or replace, while nothing was sent) the week's issue."""
        values = {
            "newsletter": newsletter,
            "week": str(week),
            "number": number,
            "subject": rendered.subject,
            "preheader": rendered.preheader,
            "html": rendered.html,
            "text": rendered.text,
            "web_html": rendered.web_html,
            "issue_json": issue_json,
            "built_at": now,
        }
        with self._tx() as conn:
            row_id = conn.execute(
                sa.select(issues.c.id).where(
                    issues.c.newsletter == newsletter, issues.c.week == str(week)
                )
            ).scalar()
            if row_id is None:
                conn.execute(issues.insert().values(**values))
            else:
                _refuse_if_delivered(conn, int(row_id), week)
                conn.execute(issues.update().where(issues.c.id == row_id).values(**values))
        saved = self.load_issue(newsletter, week)
        assert saved is not None
        return saved

    def load_issue(self, newsletter: str, week: IsoWeek) -> SavedIssue | None:
        """The saved issue of the week, or None."""
        with self._tx() as conn:
            row = conn.execute(
                sa.select(issues).where(
                    issues.c.newsletter == newsletter, issues.c.week == str(week)
                )
            ).first()
        if row is None:
            return None
        rendered = RenderedIssue(row.subject, row.preheader, row.html, row.text, row.web_html)
        return SavedIssue(
            id=row.id,
            newsletter=row.newsletter,
            week=IsoWeek.parse(row.week),
            number=row.number,
            rendered=rendered,
            issue_json=row.issue_json,
            built_at=_aware(row.built_at),
        )

    # -- deliveries --------------------------------------------------------------------

    def prepare_deliveries(
        self, issue_id: int, message_ids: Iterable[tuple[int, str]], now: dt.datetime
    ) -> int:
        """Insert a pending row per (subscriber id, Message-ID) not yet in the issue."""
        with self._tx() as conn:
            present = set(
                conn.execute(
                    sa.select(deliveries.c.subscriber_id).where(deliveries.c.issue_id == issue_id)
                ).scalars()
            )
            emails = {
                int(row.id): str(row.email)
                for row in conn.execute(
                    sa.select(subscribers.c.id, subscribers.c.email).where(
                        subscribers.c.status == ACTIVE
                    )
                )
            }
            rows = [
                {
                    "issue_id": issue_id,
                    "subscriber_id": sid,
                    "email": emails[sid],
                    "state": DeliveryState.PENDING.value,
                    "message_id": mid,
                    "smtp_reply": "",
                    "attempts": 0,
                    "updated_at": now,
                }
                for sid, mid in message_ids
                if sid not in present and sid in emails
            ]
            if rows:
                conn.execute(deliveries.insert(), rows)
        return len(rows)

    def claim(self, issue_id: int, limit: int, now: dt.datetime) -> list[DeliveryTask]:
        """Move up to ``limit`` pending rows of active subscribers to sending."""
        query = (
            sa.select(
                deliveries.c.id,
                deliveries.c.message_id,
                subscribers.c.id.label("sid"),
                subscribers.c.email,
                subscribers.c.name,
            )
            .join(subscribers, subscribers.c.id == deliveries.c.subscriber_id)
            .where(
                deliveries.c.issue_id == issue_id,
                deliveries.c.state == DeliveryState.PENDING.value,
                subscribers.c.status == ACTIVE,
            )
            .order_by(deliveries.c.id)
            .limit(limit)
        )
        with self._tx() as conn:
            rows = conn.execute(query).all()
            if rows:
                conn.execute(
                    deliveries.update()
                    .where(deliveries.c.id.in_([r.id for r in rows]))
                    .values(
                        state=DeliveryState.SENDING.value,
                        attempts=deliveries.c.attempts + 1,
                        updated_at=now,
                    )
                )
        return [DeliveryTask(r.id, Subscriber(r.email, r.name, r.sid), r.message_id) for r in rows]

    def requeue_deferred(self, issue_id: int, now: dt.datetime) -> int:
        """Put the issue's deferred rows back to pending for another attempt."""
        with self._tx() as conn:
            result = conn.execute(
                deliveries.update()
                .where(
                    deliveries.c.issue_id == issue_id,
                    deliveries.c.state == DeliveryState.DEFERRED.value,
                )
                .values(state=DeliveryState.PENDING.value, updated_at=now)
            )
        return result.rowcount

    def record(self, delivery_id: int, outcome: Outcome, now: dt.datetime) -> None:
        """Store the relay's classified answer on the row."""
        with self._tx() as conn:
            conn.execute(
                deliveries.update()
                .where(deliveries.c.id == delivery_id)
                .values(
                    state=outcome.state.value,
                    smtp_code=outcome.code,
                    smtp_reply=outcome.reply[:2000],
                    updated_at=now,
                )
            )
            if outcome.state is DeliveryState.BOUNCED:
                sid = sa.select(deliveries.c.subscriber_id).where(deliveries.c.id == delivery_id)
                conn.execute(
                    subscribers.update()
                    .where(subscribers.c.id == sid.scalar_subquery())
                    .values(status="bounced")
                )

    def in_flight(self, issue_id: int) -> list[str]:
        """Addresses whose row is still 'sending': in flight when a send stopped."""
        with self._tx() as conn:
            return list(
                conn.execute(
                    sa.select(deliveries.c.email)
                    .where(
                        deliveries.c.issue_id == issue_id,
                        deliveries.c.state == DeliveryState.SENDING.value,
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


def _refuse_if_delivered(conn: sa.Connection, issue_id: int, week: IsoWeek) -> None:
    sent = conn.execute(
        sa.select(sa.func.count()).where(deliveries.c.issue_id == issue_id)
    ).scalar()
    if sent:
        raise LedgerError(
            f"week {week} is already being sent or sent ({sent} deliveries); "
            "its issue cannot be rebuilt"
        )


def _sqlite_pragmas(dbapi_conn: object, _record: object) -> None:
    cursor = dbapi_conn.cursor()  # type: ignore[attr-defined]
    # WAL and a busy timeout: a reader (status, web) never blocks the sender.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _aware(moment: dt.datetime) -> dt.datetime:
    # SQLite returns naive datetimes; every stored time is UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _safe_url(url: str) -> str:
    return sa.engine.make_url(url).render_as_string(hide_password=True)


def _reason(exc: SQLAlchemyError) -> str:
    original = getattr(exc, "orig", None)
    return str(original or exc).strip().splitlines()[0]
