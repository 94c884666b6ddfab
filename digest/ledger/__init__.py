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
from digest.ledger import schema
from digest.ledger.bounce_record import BounceBook
from digest.ledger.calendar import CalendarBook
from digest.ledger.deliveries import DeliveryBook
from digest.ledger.relay_budget import RateBook
from digest.ledger.summary_cache import SummaryBook
from digest.ledger.tables import deliveries, issues, subscribers
from digest.ledger.workers import WorkerBook
from digest.models import (
    IsoWeek,
    IssueEntry,
    RenderedIssue,
    SavedIssue,
    SignupOutcome,
    Subscriber,
    SubscriberRecord,
)

ACTIVE = "active"
PENDING = "pending"
PAUSED = "paused"
UNSUBSCRIBED = "unsubscribed"


class Ledger(DeliveryBook, WorkerBook, RateBook, BounceBook, CalendarBook, SummaryBook):
    """Subscribers, saved issues and deliveries in one SQL database."""

    def __init__(self, url: str) -> None:
        """Open the database; a new one gets the current tables, an older one is refused."""
        self._engine = _open_engine(url)
        try:
            with self._engine.begin() as conn:
                schema.ensure_current(conn, _safe_url(url))
        except SQLAlchemyError as exc:
            self._engine.dispose()
            raise LedgerError(f"cannot open database {_safe_url(url)}: {_reason(exc)}") from exc
        except LedgerError:
            self._engine.dispose()
            raise

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

    def unconfirmed(self, issue_id: int, now: dt.datetime) -> list[str]:
        """Addresses in flight at the stop or death of a worker: sent or not, none can say."""
        return self.in_flight(issue_id, [w.id for w in self.live_workers(issue_id, now)])

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
            built_at=row.built_at,
        )

    # -- subscriptions (web) -----------------------------------------------------------

    def find_subscriber(self, email: str) -> SubscriberRecord | None:
        """The subscriber with this address, whatever their status."""
        with self._tx() as conn:
            row = conn.execute(sa.select(subscribers).where(subscribers.c.email == email)).first()
        if row is None:
            return None
        paused = row.paused_until
        return SubscriberRecord(Subscriber(row.email, row.name, row.id), row.status, paused)

    def request_subscription(
        self, email: str, name: str, now: dt.datetime, resend_after: dt.timedelta
    ) -> SignupOutcome:
        """Record a sign-up as pending (double opt-in) and say whether to mail a confirmation."""
        with self._tx() as conn:
            row = conn.execute(
                sa.select(subscribers.c.status, subscribers.c.confirmation_sent_at).where(
                    subscribers.c.email == email
                )
            ).first()
            if row is None:
                conn.execute(
                    subscribers.insert().values(
                        email=email,
                        name=name,
                        status=PENDING,
                        created_at=now,
                        confirmation_sent_at=now,
                    )
                )
                return SignupOutcome.SEND_CONFIRMATION
            if row.status in (ACTIVE, PAUSED):
                return SignupOutcome.ALREADY_SUBSCRIBED
            last = row.confirmation_sent_at
            if row.status == PENDING and last is not None and now - last < resend_after:
                return SignupOutcome.TOO_SOON
            conn.execute(
                subscribers.update()
                .where(subscribers.c.email == email)
                .values(status=PENDING, confirmation_sent_at=now, name=name or subscribers.c.name)
            )
        return SignupOutcome.SEND_CONFIRMATION

    def confirm_subscription(self, email: str) -> bool:
        """Make a pending address active; True when it is active afterwards."""
        with self._tx() as conn:
            conn.execute(
                subscribers.update()
                .where(subscribers.c.email == email, subscribers.c.status == PENDING)
                .values(status=ACTIVE)
            )
            status = conn.execute(
                sa.select(subscribers.c.status).where(subscribers.c.email == email)
            ).scalar()
        return status == ACTIVE

    def set_preferences(self, email: str, *, name: str, paused_until: dt.datetime | None) -> bool:
        """Change the name and pause (or resume) an active or paused subscriber."""
        status = PAUSED if paused_until is not None else ACTIVE
        with self._tx() as conn:
            result = conn.execute(
                subscribers.update()
                .where(subscribers.c.email == email, subscribers.c.status.in_([ACTIVE, PAUSED]))
                .values(name=name, status=status, paused_until=paused_until)
            )
        return result.rowcount > 0

    def resume_paused(self, now: dt.datetime) -> int:
        """Make active again the subscribers whose pause has ended."""
        with self._tx() as conn:
            result = conn.execute(
                subscribers.update()
                .where(subscribers.c.status == PAUSED, subscribers.c.paused_until <= now)
                .values(status=ACTIVE, paused_until=None)
            )
        return result.rowcount

    def list_issues(self, newsletter: str) -> list[IssueEntry]:
        """The newsletter's saved issues, newest first."""
        with self._tx() as conn:
            rows = conn.execute(
                sa.select(issues.c.week, issues.c.number, issues.c.subject, issues.c.built_at)
                .where(issues.c.newsletter == newsletter)
                .order_by(issues.c.number.desc())
            ).all()
        return [IssueEntry(IsoWeek.parse(r.week), r.number, r.subject, r.built_at) for r in rows]


def upgrade_database(url: str) -> schema.Upgrade:
    """Bring the database at ``url`` to the current schema in place (`digest db upgrade`)."""
    engine = _open_engine(url)
    try:
        with engine.begin() as conn:
            return schema.upgrade(conn)
    except SQLAlchemyError as exc:
        raise LedgerError(f"cannot upgrade database {_safe_url(url)}: {_reason(exc)}") from exc
    finally:
        engine.dispose()


def _open_engine(url: str) -> sa.Engine:
    try:
        engine = sa.create_engine(url)
    except SQLAlchemyError as exc:
        raise LedgerError(f"cannot open database {_safe_url(url)}: {_reason(exc)}") from exc
    except ModuleNotFoundError as exc:
        raise LedgerError(
            f"database {_safe_url(url)} needs the {exc.name} driver: "
            "pip install 'digest[postgresql]'"
        ) from exc
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    return engine


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


def _safe_url(url: str) -> str:
    return sa.engine.make_url(url).render_as_string(hide_password=True)


def _reason(exc: SQLAlchemyError) -> str:
    original = getattr(exc, "orig", None)
    return str(original or exc).strip().splitlines()[0]
