"""What a build writes for people and tools: the issue as JSON and the build folder."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import Any

from digest.errors import DigestError
from digest.models import IsoWeek, Issue


def issue_to_json(issue: Issue) -> str:
    """The Issue (articles, summaries, sections) as stable, indented JSON."""
    return json.dumps(_plain(issue), ensure_ascii=False, indent=2, sort_keys=False) + "\n"


def _plain(value: Any) -> Any:
    if isinstance(value, IsoWeek):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


def write_build_files(out: Path, files: dict[str, str | bytes]) -> list[Path]:
    """Write each named file into ``out`` (created); returns the paths written."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for name, content in files.items():
            path = out / name
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content, encoding="utf-8")
            written.append(path)
    except OSError as exc:
        raise DigestError(f"cannot write the build into {out}: {exc.strerror}") from exc
    return written
