"""Subscriber lists: address checks and CSV import."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from digest.errors import SubscriberError
from digest.models import Subscriber

# A deliberately plain check: one @, a dotted domain, no spaces or controls (RFC 5321 limits).
_ADDRESS = re.compile(r"^[^@\s\x00-\x1f\x7f<>(),;:\"\[\]\\]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
MAX_ADDRESS = 254


def normalize_address(text: str) -> str:
    """A cleaned, lowercased address, or SubscriberError naming it."""
    # Local parts are case-sensitive in RFC 5321, but no mailbox provider treats them so;
    # lowercasing is what keeps one reader from being subscribed twice.
    address = text.strip().lower()
    local = address.rpartition("@")[0]
    if len(address) > MAX_ADDRESS or not _ADDRESS.match(address) or len(local) > 64:
        raise SubscriberError(f"invalid email address {text.strip()!r}")
    return address


def read_subscriber_csv(path: Path) -> tuple[list[Subscriber], list[str]]:
    """People from a CSV with an ``email`` column (and optional ``name``), and the rejected rows."""
    try:
        raw = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise SubscriberError(f"cannot read {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise SubscriberError(f"{path} is not UTF-8 text; save it as UTF-8 CSV") from exc
    dialect = _dialect(raw)
    reader = csv.DictReader(io.StringIO(raw), dialect=dialect)
    fields = [f.strip().lower() for f in reader.fieldnames or []]
    if "email" not in fields:
        raise SubscriberError(f"{path}: the first line must name the columns, one being 'email'")
    reader.fieldnames = fields
    return _rows(reader, path)


def _rows(reader: csv.DictReader[str], path: Path) -> tuple[list[Subscriber], list[str]]:
    people: dict[str, Subscriber] = {}
    problems: list[str] = []
    for line, row in enumerate(reader, start=2):
        try:
            address = normalize_address(row.get("email") or "")
        except SubscriberError as exc:
            problems.append(f"{path.name}:{line}: {exc}")
            continue
        if address in people:
            problems.append(f"{path.name}:{line}: duplicate address {address!r}")
            continue
        name = " ".join((row.get("name") or "").split())
        people[address] = Subscriber(address, name)
    return list(people.values()), problems


def _dialect(raw: str) -> type[csv.Dialect] | csv.Dialect:
    try:
        return csv.Sniffer().sniff(raw.split("\n", 1)[0], delimiters=",;\t")
    except csv.Error:
        return csv.excel
