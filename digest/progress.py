"""What `digest send` and `digest status` tell a person: counts, rate, ETA, last errors."""

from __future__ import annotations

import datetime as dt

from digest.ledger import Ledger
from digest.models import DeliveryState, SavedIssue, SendReport

RATE_WINDOW = dt.timedelta(minutes=5)
_LEFT = (DeliveryState.PENDING.value, DeliveryState.DEFERRED.value)


def describe_status(ledger: Ledger, saved: SavedIssue, now: dt.datetime) -> list[str]:
    """Counts per state, the recent rate and ETA, rows in flight and the last errors."""
    counts = ledger.counts(saved.id)
    lines = [
        f"{saved.newsletter} n°{saved.number} ({saved.week}), built "
        f"{saved.built_at:%Y-%m-%d %H:%M} UTC: {saved.rendered.subject}"
    ]
    lines += [f"  {state.value:10} {counts.get(state.value, 0)}" for state in DeliveryState]
    rate = ledger.sent_since(saved.id, now - RATE_WINDOW) / RATE_WINDOW.total_seconds()
    left = sum(counts.get(state, 0) for state in _LEFT)
    lines.append(f"  rate       {rate * 60:.0f} messages/min over the last 5 minutes")
    if left and rate > 0:
        lines.append(f"  eta        {_duration(left / rate)} for {left} messages left")
    elif left:
        lines.append(f"  eta        unknown: {left} messages left, none sent in the last 5 minutes")
    lines += describe_workers(ledger, saved, now)
    for address in ledger.unconfirmed(saved.id, now):
        lines.append(
            f"  in flight: {address} (unconfirmed; 'digest send --resend-unconfirmed' resends)"
        )
    for error in ledger.recent_errors(saved.id):
        lines.append(
            f"  last error {error.at:%Y-%m-%d %H:%M:%S} {error.email} {error.state}: "
            f"{error.code or ''} {error.reply}".rstrip()
        )
    return lines


def describe_address(ledger: Ledger, saved: SavedIssue, email: str) -> list[str]:
    """One subscriber's delivery of the issue: its state, attempts and every refusal."""
    found = ledger.replies_to(saved.id, email)
    if found is None:
        return [f"  {email}: no delivery for this issue (not subscribed when it was prepared?)"]
    last = f"{found.code or ''} {found.reply}".strip()
    lines = [
        f"  {email}: {found.state} after {found.attempts} attempt(s), "
        f"{found.at:%Y-%m-%d %H:%M:%S} UTC" + (f": {last}" if last else "")
    ]
    for reply in found.history:
        relay = f" via {reply.relay}" if reply.relay else ""
        lines.append(
            f"    {reply.at:%Y-%m-%d %H:%M:%S} {reply.state}{relay}: "
            f"{reply.code or ''} {reply.reply}".rstrip()
        )
    return lines


def describe_workers(ledger: Ledger, saved: SavedIssue, now: dt.datetime) -> list[str]:
    """One line per send worker: live or how it ended, and how many messages it sent."""
    lines = []
    for worker in ledger.workers(saved.id):
        if worker.live(now):
            state = f"live, lease until {worker.expires_at:%H:%M:%S}"
        elif worker.stopped_at is not None:
            state = f"stopped {worker.stopped_at:%Y-%m-%d %H:%M:%S}"
        else:
            state = f"lost (no lease since {worker.expires_at:%Y-%m-%d %H:%M:%S})"
        lines.append(f"  worker     {worker.id}: {state}, sent {worker.sent}")
    return lines


def describe_send(saved: SavedIssue, report: SendReport) -> list[str]:
    """The end-of-send report: counts per state, earlier unconfirmed rows."""
    counts = ", ".join(f"{state} {n}" for state, n in report.counts) or "nobody to send to"
    lines = [f"Sent {saved.newsletter} n°{saved.number} ({saved.week}): {counts}"]
    if report.worker:
        lines.append(f"  by worker {report.worker}")
    lines += [
        f"  in flight at an earlier stop (not resent; --resend-unconfirmed resends): {address}"
        for address in report.in_flight
    ]
    return lines


def _duration(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes >= 60:
        return f"{minutes // 60} h {minutes % 60:02d} min"
    return f"{minutes} min {int(seconds % 60):02d} s"
