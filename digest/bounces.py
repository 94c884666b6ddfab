"""Delivery status notifications (RFC 3464) from an mbox file or a folder, applied to the list.

A permanent failure (action "failed", status 5.x.x) suppresses the address at once; a
transient one (action "delayed" or status 4.x.x) counts toward ``soft_bounce_limit``.
"""

from __future__ import annotations

import datetime as dt
import email
import email.message
import email.policy
import mailbox
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from digest.errors import SubscriberError
from digest.ledger import Ledger
from digest.ledger.bounce_record import HARD, SOFT

_STATUS = re.compile(r"^\s*([245])\.\d{1,3}\.\d{1,3}")


@dataclass(frozen=True, slots=True)
class Bounce:
    """One recipient's failure found in a DSN."""

    email: str
    kind: str
    reason: str


@dataclass
class BounceReport:
    """What an import found and did."""

    messages: int = 0
    hard: int = 0
    soft: int = 0
    suppressed: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def read_bounces(message: email.message.Message) -> list[Bounce]:
    """The failed and delayed recipients of one DSN; [] when it is not a DSN."""
    if message.get_content_type() != "multipart/report":
        return []
    bounces = []
    for part in message.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        payload = part.get_payload()
        # The first block holds the per-message fields, the next ones one recipient each.
        blocks = payload[1:] if isinstance(payload, list) else []
        for block in blocks:
            if not isinstance(block, email.message.Message):
                continue
            bounce = _recipient_bounce(block)
            if bounce is not None:
                bounces.append(bounce)
    return bounces


def _recipient_bounce(block: email.message.Message) -> Bounce | None:
    recipient = str(block.get("Final-Recipient") or block.get("Original-Recipient") or "")
    address = recipient.partition(";")[2].strip().strip("<>").lower()
    action = str(block.get("Action", "")).strip().lower()
    status = _STATUS.match(str(block.get("Status", "")))
    if not address or action in {"delivered", "relayed", "expanded"}:
        return None
    permanent = action == "failed" and (status is None or status.group(1) == "5")
    reason = " ".join(
        f"{name}: {block.get(name)}" for name in ("Status", "Diagnostic-Code") if block.get(name)
    )
    return Bounce(address, HARD if permanent else SOFT, " ".join(reason.split()))


def iter_messages(path: Path) -> Iterator[tuple[str, email.message.Message | None]]:
    """(where, message) for each message of an mbox file, a Maildir or a folder of files."""
    if path.is_file():
        box = mailbox.mbox(path, create=False)
        try:
            for key, message in box.iteritems():
                yield f"{path}#{key}", message
        finally:
            box.close()
        return
    if not path.is_dir():
        raise SubscriberError(f"{path} is neither an mbox file nor a folder of messages")
    if (path / "cur").is_dir() and (path / "new").is_dir():
        maildir = mailbox.Maildir(path, create=False)
        for key, entry in maildir.iteritems():
            yield f"{path}/{key}", entry
        return
    for file in sorted(p for p in path.iterdir() if p.is_file()):
        try:
            yield (
                str(file),
                email.message_from_bytes(file.read_bytes(), policy=email.policy.compat32),
            )
        except OSError as exc:
            yield f"{file}: {exc.strerror}", None


def import_bounces(path: Path, ledger: Ledger, soft_limit: int, now: dt.datetime) -> BounceReport:
    """Read every DSN under ``path`` and record its bounces; a broken message is skipped."""
    report = BounceReport()
    for where, message in iter_messages(path):
        report.messages += 1
        if message is None:
            report.skipped.append(where)
            continue
        bounces = read_bounces(message)
        if not bounces:
            report.skipped.append(f"{where}: not a delivery status notification")
        for bounce in bounces:
            _apply(ledger, bounce, soft_limit, now, report)
    return report


def _apply(
    ledger: Ledger, bounce: Bounce, soft_limit: int, now: dt.datetime, report: BounceReport
) -> None:
    status = ledger.record_bounce(bounce.email, bounce.kind, bounce.reason, now, soft_limit)
    if status is None:
        report.unknown.append(bounce.email)
        return
    if bounce.kind == HARD:
        report.hard += 1
    else:
        report.soft += 1
    if status == "bounced" and bounce.email not in report.suppressed:
        report.suppressed.append(bounce.email)
