"""Subscriber lists: address checks and CSV import."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

from digest.errors import SubscriberError
from digest.models import Subscriber

# A deliberately plain check (RFC 5321): a dot-atom local part, a dotted host name.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_ADDRESS = re.compile(rf"{_ATEXT}+(?:\.{_ATEXT}+)*@{_LABEL}(?:\.{_LABEL})+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
MAX_ADDRESS = 254
MAX_NAME = 100


def normalize_address(text: str) -> str:
    """A cleaned, lowercased address (domain as its A-label), or SubscriberError naming it."""
    # Local parts are case-sensitive in RFC 5321, but no mailbox provider treats them so;
    # lowercasing is what keeps one reader from being subscribed twice.
    shown = text.strip()
    local, _, domain = shown.lower().rpartition("@")
    if local and not local.isascii() and not _CONTROL.search(local):
        raise SubscriberError(
            f"email address {shown!r} has accents before the @, which need SMTPUTF8 (not supported)"
        )
    address = f"{local}@{_ascii_domain(domain)}"
    if len(address) > MAX_ADDRESS or not _ADDRESS.fullmatch(address) or len(local) > 64:
        raise SubscriberError(f"invalid email address {shown!r}")
    return address


def clean_name(text: str) -> str:
    """A person's name on one line: no control characters, single spaces, at most 100."""
    return " ".join(_CONTROL.sub(" ", text).split())[:MAX_NAME].strip()


def _ascii_domain(domain: str) -> str:
    """An internationalised domain as its A-label (RFC 5890): one form per mailbox."""
    if domain.isascii():
        return domain
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        return domain  # not a valid IDN: refused by the check that follows


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
    rows = iter(reader)
    while True:
        try:
            row = next(rows)
        except StopIteration:
            break
        except csv.Error as exc:
            # The reader counts the line it failed on only once it moves past it.
            problems.append(f"{path.name}:{reader.line_num + 1}: unreadable row ({exc})")
            continue
        # The line the row ends on, as an editor sees it (blank lines and quoted breaks count).
        line = reader.line_num
        try:
            address = normalize_address(_field(row, "email"))
        except SubscriberError as exc:
            problems.append(f"{path.name}:{line}: {exc}")
            continue
        if address in people:
            problems.append(f"{path.name}:{line}: duplicate address {address!r}")
            continue
        people[address] = Subscriber(address, clean_name(_field(row, "name")))
    return list(people.values()), problems


def _field(row: dict[str | Any, str | Any], key: str) -> str:
    value = row.get(key)
    return value if isinstance(value, str) else ""


def _dialect(raw: str) -> type[csv.Dialect] | csv.Dialect:
    try:
        return csv.Sniffer().sniff(raw.split("\n", 1)[0], delimiters=",;\t")
    except csv.Error:
        return csv.excel
