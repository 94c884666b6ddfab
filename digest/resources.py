"""Where the files that ship with digest are: templates and configs."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def bundled_dir(name: str) -> Path:
    """The bundled folder ``name`` ("templates", "config") of a wheel or a source checkout."""
    installed = _PACKAGE / "_bundled" / name
    if installed.is_dir():
        return installed
    return _PACKAGE.parent / name


def demo_dir() -> Path:
    """The demo's sample articles, subscribers and editor's note."""
    return _PACKAGE / "demo"
