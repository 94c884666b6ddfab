"""What a reader sees: the demo's issue in Chromium at phone and desktop widths."""

from __future__ import annotations

from pathlib import Path

import pytest

from digest.config import NewsletterSettings, TemplateSettings
from digest.rendering import Renderer
from tests.browser import measure
from tests.test_golden import built  # noqa: F401  (the golden build, reused)
from tests.test_rendering import DATE_LABEL, make_issue


@pytest.mark.parametrize("width", [320, 375, 600, 800])
def test_the_issue_never_scrolls_sideways(built: Path, width: int) -> None:  # noqa: F811
    html = (built / "issue.html").read_text(encoding="utf-8")
    page = measure(html, width)
    assert page.overflow == 0, f"{page.overflow}px of horizontal overflow at {width}px"
    assert page.scroll_height > 1500


def test_a_long_unbroken_url_title_does_not_widen_the_phone_view() -> None:
    renderer = Renderer(TemplateSettings(), NewsletterSettings())
    html = renderer.render(make_issue(8), date_label=DATE_LABEL).web_html
    assert measure(html, 375).overflow == 0


def test_the_measure_sees_a_page_that_is_too_wide() -> None:
    wide = "<html><body><div style='width:900px'>x</div></body></html>"
    assert measure(wide, 375).overflow > 400
