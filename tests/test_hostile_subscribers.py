"""A hostile subscriber CSV: good rows imported, bad ones named by line, nothing else moved."""

from __future__ import annotations

import datetime as dt
import email
import email.header
import email.policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from digest.config import NewsletterSettings
from digest.errors import SubscriberError
from digest.ledger import Ledger
from digest.messages import build_message, make_message_id, personal_slots
from digest.models import RenderedIssue, Subscriber
from digest.subscribers import clean_name, normalize_address
from tests.weekkit import digest, write_config

NOW = dt.datetime(2025, 1, 20, 9, 0, tzinfo=dt.UTC)
SECRET = b"hostile-subscribers-secret-012345"
ROWS = [
    "Email;Name",  # 1
    "lea@example.org;Léa  Nguyen",  # 2
    "",  # 3: a blank line still counts
    "pas-une-adresse;X",  # 4
    "LEA@EXAMPLE.ORG;Léa bis",  # 5: duplicate
    "zoe@exemple.café;Zoé",  # 6: IDN, imported as its A-label
    "ZOE@exemple.xn--caf-dma;Zoé encore",  # 7: the same mailbox as an A-label
    "zoé@exemple.fr;Zoé",  # 8: UTF-8 local part
    '"victim@example.org\r\nBcc: all@example.org";Pirate',  # 9-10: quoted CR/LF
    "a..b@example.org;",  # 11
    ".a@example.org;",  # 12
    "a@-example.org;",  # 13
    "<script>@example.org;",  # 14
    'karim@example.org;"Karim\r\nBcc: all@example.org"',  # 15-16: the name is cleaned
    "admin@example.org;=?utf-8?b?U2VydmljZSBjbGllbnQ=?=",  # 17: kept literally
    "nul@example.org;A\x00B\x1bC",  # 18
    "old@example.org;Ancien abonné",  # 19: unsubscribed before, stays so
    "kept@example.org;Nouveau nom",  # 20: already there, keeps its name
    "huge@example.org;" + "x" * 200_000,  # 21: past the CSV field limit
    "after@example.org;Après",  # 22
    "x" * 250 + "@example.org;Long",  # 23
]


def write_csv(folder: Path) -> Path:
    path = folder / "abonnes.csv"
    path.write_bytes(("\ufeff" + "\n".join(ROWS) + "\n").encode("utf-8"))
    return path


def test_an_import_keeps_good_rows_names_bad_lines_and_changes_nothing_else(
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path)
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    ledger.add_subscriber("old@example.org", "Ancien", NOW)
    ledger.set_subscriber_status("old@example.org", "unsubscribed")
    ledger.add_subscriber("kept@example.org", "Gardé", NOW)
    before = ledger.list_subscribers(active_only=False)
    ledger.close()

    outcome = digest(config, "subscribers", "import", str(write_csv(tmp_path)))

    assert outcome.returncode == 0, outcome.stderr
    assert outcome.stderr.splitlines() == [
        "skipped abonnes.csv:4: invalid email address 'pas-une-adresse'",
        "skipped abonnes.csv:5: duplicate address 'lea@example.org'",
        "skipped abonnes.csv:7: duplicate address 'zoe@exemple.xn--caf-dma'",
        "skipped abonnes.csv:8: email address 'zoé@exemple.fr' has accents before the @, "
        "which need SMTPUTF8 (not supported)",
        "skipped abonnes.csv:10: invalid email address "
        "'victim@example.org\\r\\nBcc: all@example.org'",
        "skipped abonnes.csv:11: invalid email address 'a..b@example.org'",
        "skipped abonnes.csv:12: invalid email address '.a@example.org'",
        "skipped abonnes.csv:13: invalid email address 'a@-example.org'",
        "skipped abonnes.csv:14: invalid email address '<script>@example.org'",
        "skipped abonnes.csv:21: unreadable row (field larger than field limit (131072))",
        f"skipped abonnes.csv:23: invalid email address '{'x' * 250}@example.org'",
    ]
    assert outcome.stdout.strip() == "6 added, 2 already subscribed, 11 rejected"
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    try:
        after = ledger.list_subscribers(active_only=False)
    finally:
        ledger.close()
    assert after[: len(before)] == before  # the known rows did not move
    assert [(s.email, s.name, status) for s, status in after[len(before) :]] == [
        ("lea@example.org", "Léa Nguyen", "active"),
        ("zoe@exemple.xn--caf-dma", "Zoé", "active"),
        ("karim@example.org", "Karim Bcc: all@example.org", "active"),
        ("admin@example.org", "=?utf-8?b?U2VydmljZSBjbGllbnQ=?=", "active"),
        ("nul@example.org", "A B C", "active"),
        ("after@example.org", "Après", "active"),
    ]
    for subscriber, _ in after[len(before) :]:
        raw, message = message_for(subscriber.email, subscriber.name)
        (address,) = message["To"].addresses
        assert address.addr_spec == subscriber.email
        assert to_name(raw, message) == subscriber.name


def test_adding_one_person_cleans_the_name_and_refuses_a_hostile_address(
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path)
    added = digest(config, "subscribers", "add", "Zoe@Exemple.Café", "--name", "Zoé\r\nBcc: x")
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == "added zoe@exemple.xn--caf-dma"
    refused = digest(config, "subscribers", "add", "a@b.fr\r\nBcc: all@example.org")
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines() == [
        "digest: error: invalid email address 'a@b.fr\\r\\nBcc: all@example.org'"
    ]
    listed = digest(config, "subscribers", "list")
    assert "zoe@exemple.xn--caf-dma" in listed.stdout and "Zoé Bcc: x" in listed.stdout
    assert "a@b.fr" not in listed.stdout


@pytest.mark.parametrize(
    "address",
    ["a@b", "a@b.", "a@.fr", "a b@c.fr", "a@b_c.fr", "a@b..fr", "a.@b.fr", "a@" + "b" * 64 + ".fr"],
)
def test_malformed_addresses_are_refused(address: str) -> None:
    with pytest.raises(SubscriberError, match="invalid email address"):
        normalize_address(address)


def test_a_name_is_one_line_of_at_most_100_characters() -> None:
    assert clean_name("  Léa\r\n\tNguyen\x00 ") == "Léa Nguyen"
    assert clean_name("\u0085x\u2028y") == "x y"
    assert len(clean_name("é" * 300)) == 100


def message_for(address: str, name: str) -> tuple[bytes, EmailMessage]:
    newsletter = NewsletterSettings()
    subscriber = Subscriber(address, name)
    rendered = RenderedIssue("Sujet", "", "<p>%%DIGEST_GREETING%%</p>", "%%DIGEST_GREETING%%", "")
    raw = build_message(
        rendered,
        subscriber,
        personal_slots(subscriber, secret=SECRET, newsletter=newsletter),
        newsletter=newsletter,
        message_id=make_message_id("2025-W04.n1", address, "exemple.fr"),
        date=NOW,
    )
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert raw.isascii()
    assert not any(line.lower().startswith(b"bcc:") for line in head.split(b"\r\n"))
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return raw, message


def to_name(raw: bytes, message: EmailMessage) -> str:
    """The To display name as RFC 2047 reads it (see test_properties.display_name)."""
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii").replace("\r\n ", " ")
    line = next(part for part in head.split("\r\n") if part.startswith("To: "))
    if "=?" not in line:
        (address,) = message["To"].addresses
        return str(address.display_name)
    phrase = line.removeprefix("To: ").rpartition(" <")[0]
    return str(email.header.make_header(email.header.decode_header(phrase)))
