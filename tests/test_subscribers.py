"""Subscriber CSV import: what is kept, what is rejected and why."""

from __future__ import annotations

from pathlib import Path

import pytest

from digest.errors import SubscriberError
from digest.subscribers import normalize_address, read_subscriber_csv


def test_addresses_are_checked_and_domains_lowercased() -> None:
    assert normalize_address("  Claire@Example.ORG ") == "claire@example.org"
    for bad in [
        "",
        "claire",
        "claire@",
        "@example.org",
        "a b@example.org",
        "a@example",
        "a@example.org\r\nBcc: x@y.org",
    ]:
        with pytest.raises(SubscriberError, match="invalid email address"):
            normalize_address(bad)


def test_a_french_excel_csv_is_read_and_bad_rows_reported(tmp_path: Path) -> None:
    path = tmp_path / "abonnes.csv"
    path.write_bytes(
        "\ufeffEmail;Name\nlea@example.org;Léa  Nguyen\npas-une-adresse;X\n"
        "LEA@EXAMPLE.org;Léa\nkarim@example.org;\n".encode()
    )
    people, problems = read_subscriber_csv(path)
    assert [(p.email, p.name) for p in people] == [
        ("lea@example.org", "Léa Nguyen"),
        ("karim@example.org", ""),
    ]
    assert problems == [
        "abonnes.csv:3: invalid email address 'pas-une-adresse'",
        "abonnes.csv:4: duplicate address 'lea@example.org'",
    ]


def test_a_csv_without_an_email_column_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "list.csv"
    path.write_text("nom,courriel\nA,a@example.org\n", encoding="utf-8")
    with pytest.raises(SubscriberError, match="one being 'email'"):
        read_subscriber_csv(path)
