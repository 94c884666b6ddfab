"""From fixture articles to three subscribers' inboxes through a real SMTP server."""

from __future__ import annotations

import email
import email.policy
import os
import re
import subprocess
import sys
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.conftest import SmtpServer
from tests.weekkit import digest, write_config

NOISE = ("Lecture Zen", "Résumer l'article", "Résumer l’article")
SUBSCRIBERS = (
    "email,name\nclaire@example.org,Claire\nkarim@example.org,Karim\nlea@example.org,Léa\n"
)


def parse(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_a_week_is_built_and_sent_once_to_every_subscriber(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    config = write_config(tmp_path, smtp_server)
    (tmp_path / "subs.csv").write_text(SUBSCRIBERS, encoding="utf-8")
    assert digest(config, "subscribers", "import", "subs.csv").returncode == 0

    built = digest(config, "build", "--week", "2025-W04", "--out", "out")
    assert built.returncode == 0, built.stderr
    out = tmp_path / "out"
    assert {p.name for p in out.iterdir()} == {
        "issue.html",
        "issue.txt",
        "issue.json",
        "preview.eml",
    }

    sent = digest(config, "send", "--week", "2025-W04")
    assert sent.returncode == 0, sent.stderr
    assert "sent 3" in sent.stdout
    messages = smtp_server.handler.messages
    assert sorted(m.rcpt_tos[0] for m in messages) == [
        "claire@example.org",
        "karim@example.org",
        "lea@example.org",
    ]

    links = set()
    for received in messages:
        message = parse(received.content)
        assert message["To"].addresses[0].addr_spec == received.rcpt_tos[0]
        assert message["Subject"].startswith("Toujours+ n°1")
        assert message.get_content_type() == "multipart/alternative"
        text = message.get_body(preferencelist=("plain",))
        html = message.get_body(preferencelist=("html",))
        assert text is not None and html is not None
        text_body, html_body = text.get_content(), html.get_content()
        link = re.search(r"<(https://[^>]+)>", message["List-Unsubscribe"])
        assert link is not None
        assert link.group(1) in text_body and link.group(1) in html_body
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        links.add(link.group(1))
        for noise in NOISE:
            assert noise not in received.content.decode("ascii", "replace")
            assert noise not in text_body and noise not in html_body
        assert "médiathèque du Tonkin" in text_body
    assert len(links) == 3

    again = digest(config, "send", "--week", "2025-W04")
    assert again.returncode == 0, again.stderr
    assert len(smtp_server.handler.messages) == 3, "a second send must not mail anyone again"

    # One reader's delivery, looked up by address in any case.
    status = digest(config, "status", "--week", "2025-W04", "--address", "Lea@Example.org")
    assert status.returncode == 0, status.stderr
    assert re.search(
        r"^  lea@example\.org: sent after 1 attempt\(s\), .* UTC: 250 ", status.stdout, re.M
    )
    wrong = digest(config, "status", "--week", "2025-W04", "--address", "lea@@example.org")
    assert wrong.returncode == 1
    assert wrong.stderr.strip() == "digest: error: invalid email address 'lea@@example.org'"


def test_the_preview_reaches_the_editors_and_not_the_ledger(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    config = write_config(tmp_path, smtp_server)
    assert digest(config, "build", "--week", "2025-W04", "--out", "out").returncode == 0
    preview = digest(config, "send-preview", "--week", "2025-W04", "--to", "chef@example.org")
    assert preview.returncode == 0, preview.stderr
    (received,) = smtp_server.handler.messages
    assert received.rcpt_tos == ["chef@example.org"]
    assert parse(received.content)["Subject"].startswith("[Aperçu] Toujours+ n°1")
    status = digest(config, "status", "--week", "2025-W04")
    assert re.search(r"sent\s+0", status.stdout)


def test_user_mistakes_are_one_line_errors_with_exit_status_1_or_2(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    config = write_config(tmp_path, smtp_server)
    missing = digest(config, "send", "--week", "2025-W04")
    assert missing.returncode == 1
    assert missing.stderr.strip() == (
        "digest: error: no issue built for week 2025-W04: run 'digest build --week 2025-W04'"
    )
    bad_week = digest(config, "build", "--week", "2025-04")
    assert bad_week.returncode == 2 and "YYYY-Www" in bad_week.stderr
    config.write_text(config.read_text() + "\n[delivery]\nspeed = 3\n", encoding="utf-8")
    unknown = digest(config, "build")
    assert unknown.returncode == 1
    assert unknown.stderr.strip() == f"digest: error: unknown key 'delivery' in {config}"
    assert "Traceback" not in unknown.stderr


@pytest.mark.parametrize("command", [["build", "--week", "2025-W04"], ["send"]])
def test_a_missing_secret_key_is_named(
    tmp_path: Path, smtp_server: SmtpServer, command: list[str]
) -> None:
    config = write_config(tmp_path, smtp_server)
    env = {k: v for k, v in os.environ.items() if k != "DIGEST_SECRET_KEY"}
    done = subprocess.run(
        [sys.executable, "-m", "digest.cli", "--config", str(config), *command],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert "DIGEST_SECRET_KEY is not set" in done.stderr


def test_without_a_relay_the_preview_is_built_and_lands_in_the_local_catcher(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    config = write_config(tmp_path, smtp_server)
    text = config.read_text(encoding="utf-8")
    config.write_text(re.sub(r'host = "[^"]*"\n', 'host = ""\n', text), encoding="utf-8")
    preview = digest(config, "send-preview", "--week", "2025-W04", "--to", "chef@example.org")
    assert preview.returncode == 0, preview.stderr
    assert "building it first" in preview.stdout
    (eml,) = (tmp_path / "digest-previews").glob("*chef@example.org.eml")
    assert parse(eml.read_bytes())["Subject"].startswith("[Aperçu] Toujours+ n°1")
    assert smtp_server.handler.messages == []
    refused = digest(config, "send", "--week", "2025-W04")
    assert refused.returncode == 1
    assert "no SMTP relay configured: set smtp.host" in refused.stderr


def test_a_rebuild_after_the_preview_sends_the_editors_a_new_preview(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    config = write_config(tmp_path, smtp_server)
    assert digest(config, "build", "--week", "2025-W04", "--out", "out").returncode == 0
    assert smtp_server.handler.messages == [], "a first build previews nothing by itself"
    assert digest(config, "send-preview", "--week", "2025-W04").returncode == 0
    rebuilt = digest(config, "build", "--week", "2025-W04", "--out", "out")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "sending the rebuilt issue to the editors" in rebuilt.stdout
    previews = [m for m in smtp_server.handler.messages if m.rcpt_tos == ["redaction@example.org"]]
    assert len(previews) == 2
    status = digest(config, "status", "--week", "2025-W04")
    assert "previewed " in status.stdout
