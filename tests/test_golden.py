"""Golden files of what readers get: the web HTML, the text part and the preview message.

Regenerate after an intended change with:
    DIGEST_UPDATE_SNAPSHOTS=1 ./scripts/test tests/test_golden.py
and review the diff of tests/snapshots/ before committing it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import re
from pathlib import Path

import pytest

from digest.config import load_settings
from digest.ledger import Ledger
from digest.models import IsoWeek
from digest.pipeline import build_issue, write_build
from tests.weekkit import write_config

SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"
NOW = dt.datetime(2025, 1, 24, 6, 0, tzinfo=dt.UTC)
FILES = ("issue.html", "issue.txt", "issue.json", "preview.eml")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("golden")
    config = write_config(folder)
    settings = load_settings(config)
    ledger = Ledger(settings.database.url)
    try:
        result = asyncio.run(build_issue(settings, ledger, IsoWeek(2025, 4), NOW))
    finally:
        ledger.close()
    write_build(result, settings, b"golden-secret", folder / "out", NOW)
    return folder / "out"


@pytest.mark.parametrize("name", FILES)
def test_the_built_file_matches_its_golden_copy(built: Path, name: str) -> None:
    produced = (built / name).read_bytes()
    golden = SNAPSHOTS / name
    if os.environ.get("DIGEST_UPDATE_SNAPSHOTS"):
        SNAPSHOTS.mkdir(exist_ok=True)
        golden.write_bytes(produced)
    assert golden.exists(), f"no golden copy of {name}: run with DIGEST_UPDATE_SNAPSHOTS=1"
    assert produced == golden.read_bytes(), f"{name} changed; see the module docstring"


def test_the_built_text_part_reads_well(built: Path) -> None:
    text = (built / "issue.txt").read_text(encoding="utf-8")
    html = (built / "issue.html").read_text(encoding="utf-8")
    for line in text.splitlines():
        lone_url = line.strip().startswith("https://")
        assert len(line) <= 78 or lone_url, line
        assert not line.lstrip().startswith((";", ":", "!", "?", "»")), line
        assert lone_url or not {"'", '"'} & set(line), f"straight quote in {line!r}"
    for url in re.findall(r'href="(https://[^"]+)"', html):
        assert url.replace("&amp;", "&") in text, f"{url} is in the HTML but not the text part"


def test_the_built_web_version_is_a_clean_standalone_page(built: Path) -> None:
    html = (built / "issue.html").read_text(encoding="utf-8")
    assert html.startswith("<!doctype html>")
    assert "%%DIGEST_" not in html and "<script" not in html and "[if mso" not in html
    assert 'href="https://lettre.example.org/desinscription"' in html
