"""`digest bounces import`: RFC 3464 DSNs from an mbox file or a folder, applied to the list."""

from __future__ import annotations

import datetime as dt
import email
from pathlib import Path

import pytest

from digest.bounces import read_bounces
from digest.cli import main
from digest.ledger import Ledger
from digest.models import Subscriber

NOW = dt.datetime(2025, 1, 24, 6, 0, tzinfo=dt.UTC)


def dsn(recipient: str, action: str, status: str, diagnostic: str) -> str:
    """A delivery status notification as an MTA writes it (RFC 3464 section 2)."""
    return f"""From: Mail Delivery System <MAILER-DAEMON@mx.exemple.fr>
To: lettre@exemple.fr
Subject: Undelivered Mail Returned to Sender
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B1"

--B1
Content-Type: text/plain

I'm sorry to have to inform you that your message could not be delivered.

--B1
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.exemple.fr
Arrival-Date: Fri, 24 Jan 2025 07:00:00 +0100

Final-Recipient: rfc822; {recipient}
Original-Recipient: rfc822;{recipient}
Action: {action}
Status: {status}
Diagnostic-Code: smtp; {diagnostic}

--B1
Content-Type: text/rfc822-headers

From: lettre@exemple.fr
To: {recipient}
Subject: Toujours+

--B1--
"""


def _mbox(path: Path, messages: list[str]) -> Path:
    with path.open("w", encoding="utf-8") as box:
        for text in messages:
            box.write("From MAILER-DAEMON Fri Jan 24 07:00:00 2025\n")
            box.write(text.replace("\nFrom ", "\n>From "))
            box.write("\n")
    return path


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "digest.toml"
    path.write_text('[database]\nurl = "sqlite:///ledger.db"\n[sending]\nsoft_bounce_limit = 2\n')
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    ledger.add_subscribers([Subscriber(f"{n}@exemple.fr") for n in ("dur", "mou", "ok")], NOW)
    ledger.close()
    return path


def _statuses(config: Path) -> dict[str, str]:
    ledger = Ledger(f"sqlite:///{config.parent / 'ledger.db'}")
    try:
        return {s.email: status for s, status in ledger.list_subscribers(active_only=False)}
    finally:
        ledger.close()


def test_a_hard_bounce_suppresses_and_soft_ones_only_past_the_threshold(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    box = _mbox(
        config.parent / "bounces.mbox",
        [
            dsn("dur@exemple.fr", "failed", "5.1.1", "550 5.1.1 user unknown"),
            dsn("mou@exemple.fr", "delayed", "4.2.2", "452 4.2.2 mailbox full"),
            dsn("inconnu@exemple.fr", "failed", "5.1.1", "550 no such user"),
            "From: someone@exemple.fr\nSubject: hello\n\nnot a bounce\n",
        ],
    )
    assert main(["--config", str(config), "bounces", "import", str(box)]) == 0
    out, err = capsys.readouterr()
    assert "4 messages: 1 hard and 1 soft bounces, 1 addresses suppressed" in out
    assert "not on the list: inconnu@exemple.fr" in err
    assert "not a delivery status notification" in err
    assert _statuses(config) == {
        "dur@exemple.fr": "bounced",
        "mou@exemple.fr": "active",
        "ok@exemple.fr": "active",
    }

    folder = config.parent / "dsn"
    folder.mkdir()
    (folder / "1.eml").write_text(dsn("mou@exemple.fr", "failed", "4.4.7", "expired"))
    assert main(["--config", str(config), "bounces", "import", str(folder)]) == 0
    assert _statuses(config)["mou@exemple.fr"] == "bounced"


def test_delivered_and_relayed_recipients_are_not_bounces() -> None:
    message = email.message_from_string(dsn("a@exemple.fr", "relayed", "2.0.0", "250 ok"))
    assert read_bounces(message) == []
    failed = email.message_from_string(dsn("<B@Exemple.fr>", "failed", "5.7.1", "550 blocked"))
    (bounce,) = read_bounces(failed)
    assert (bounce.email, bounce.kind) == ("b@exemple.fr", "hard")
    assert "5.7.1" in bounce.reason


def test_a_path_that_is_neither_file_nor_folder_is_one_clear_error(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = config.parent / "nowhere"
    assert main(["--config", str(config), "bounces", "import", str(missing)]) == 1
    assert "is neither an mbox file nor a folder" in capsys.readouterr().err
