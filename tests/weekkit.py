"""The fixture week (2025-W04) as a user would set it up: its config and the command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import SmtpServer

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "week"


def write_config(folder: Path, server: SmtpServer | None = None, extra: str = "") -> Path:
    """A config for the fixture week; with ``server``, sending to that test SMTP server."""
    smtp = (
        f'[smtp]\nhost = "{server.host}"\nport = {server.port}\nsecurity = "none"\n'
        if server is not None
        else ""
    )
    config = folder / "digest.toml"
    config.write_text(
        f"""
preview_recipients = ["redaction@example.org"]

[newsletter]
name = "Toujours+"
from_address = "lettre@example.org"
web_base_url = "https://lettre.example.org"
unsubscribe_mailto = "desinscription@example.org"

[[sources]]
name = "Fixtures"
kind = "folder"
path = "{FIXTURES}"
base_url = "https://lettre.example.org/articles/"

[composition]
sections = ["Politique", "France", "Monde"]

[database]
url = "sqlite:///ledger.db"

{smtp}{extra}""",
        encoding="utf-8",
    )
    return config


def digest(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the command as a user would, in the config's folder."""
    env = {**os.environ, "DIGEST_SECRET_KEY": "test-secret-key-of-enough-length"}
    return subprocess.run(
        [sys.executable, "-m", "digest.cli", "--config", str(config), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=config.parent,
        timeout=120,
        check=False,
    )
