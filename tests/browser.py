"""Headless Chromium (Debian's package) measuring a page the way a reader's screen shows it."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from html import escape
from pathlib import Path

import pytest

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--blink-settings=imagesEnabled=false",
)
# Headless Chromium will not make a window narrower than 500 px, so the page is laid out
# in an iframe of the exact width (srcdoc: same origin, so its document can be measured).
_FRAME = """<!doctype html><html><body style="margin:0">
<iframe id="page" style="border:0;width:{width}px;height:900px" srcdoc="{srcdoc}"></iframe>
<script>
document.getElementById("page").addEventListener("load", (event) => {{
  const e = event.target.contentDocument.documentElement;
  document.body.setAttribute("data-measure",
    e.scrollWidth + "x" + e.scrollHeight + "x" + event.target.clientWidth);
}});
</script></body></html>"""


@dataclass(frozen=True)
class Measure:
    """What the page occupies at one window width."""

    scroll_width: int
    scroll_height: int
    window_width: int

    @property
    def overflow(self) -> int:
        return max(0, self.scroll_width - self.window_width)


def chromium() -> str:
    """The Chromium binary, or a failed test saying how to install it."""
    path = shutil.which("chromium")
    if path is None:
        pytest.fail("Debian's chromium is needed: ./scripts/test installs it")
    return path


def dump_dom(page_html: str, *flags: str) -> str:
    """The DOM of ``page_html`` once loaded in headless Chromium (its scripts have run)."""
    with tempfile.TemporaryDirectory() as folder:
        page = Path(folder) / "page.html"
        page.write_text(page_html, encoding="utf-8")
        done = subprocess.run(
            [
                chromium(),
                *FLAGS,
                *flags,
                f"--user-data-dir={folder}/profile",
                "--virtual-time-budget=2000",
                "--dump-dom",
                page.as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
    return done.stdout


def measure(html: str, width: int) -> Measure:
    """Load ``html`` in a frame ``width`` pixels wide and measure it."""
    dom = dump_dom(_FRAME.format(width=width, srcdoc=escape(html)), f"--window-size={width},900")
    found = re.search(r'data-measure="(\d+)x(\d+)x(\d+)"', dom)
    assert found is not None, "the page did not finish loading in Chromium"
    return Measure(*(int(group) for group in found.groups()))


_COLOURS = """<!doctype html><html><body style="margin:0">
<iframe id="page" style="border:0;width:{width}px;height:900px" srcdoc="{srcdoc}"></iframe>
<script>
document.getElementById("page").addEventListener("load", (event) => {{
  const doc = event.target.contentDocument;
  const found = [...doc.querySelectorAll("{selector}")]
    .filter((e) => e.textContent.trim().startsWith("{text}"));
  const cell = found[found.length - 1];
  let box = cell;
  while (box && getComputedStyle(box).backgroundColor === "rgba(0, 0, 0, 0)") {{
    box = box.parentElement;
  }}
  document.body.setAttribute("data-colours", getComputedStyle(cell).color + "|" +
    (box ? getComputedStyle(box).backgroundColor : "none"));
}});
</script></body></html>"""


def colours(html: str, selector: str, text: str, *, dark: bool) -> tuple[str, str]:
    """Text and background colours of the last ``selector`` element starting with ``text``."""
    scheme = ["--force-dark-mode", "--blink-settings=preferredColorScheme=0"] if dark else []
    frame = _COLOURS.format(width=600, srcdoc=escape(html), selector=selector, text=text)
    dom = dump_dom(frame, *scheme, "--window-size=600,900")
    found = re.search(r'data-colours="([^"|]+)\|([^"]+)"', dom)
    assert found is not None, "the page did not finish loading in Chromium"
    return found.group(1), found.group(2)
