"""What a reader sees: the demo's issue in Chromium at phone and desktop widths."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from digest.config import NewsletterSettings, TemplateSettings
from digest.rendering import Renderer, fill_slots, public_slots
from tests.browser import colours, measure
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


@pytest.mark.parametrize("width", [375, 600])
def test_the_email_html_of_a_thirty_article_week_fits_phone_and_desktop(width: int) -> None:
    renderer = Renderer(TemplateSettings(), NewsletterSettings())
    rendered = renderer.render(make_issue(31), date_label=DATE_LABEL)
    html = fill_slots(rendered.html, public_slots(NewsletterSettings()), html=True)
    page = measure(html, width)
    assert page.overflow == 0, f"{page.overflow}px of horizontal overflow at {width}px"
    assert page.scroll_height > 3000


def _luminance(colour: str) -> float:
    channels = [int(c) / 255 for c in re.findall(r"\d+", colour)[:3]]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(text: str, background: str) -> float:
    """The WCAG contrast ratio of two CSS rgb() colours."""
    high, low = sorted((_luminance(text), _luminance(background)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@pytest.mark.parametrize("dark", [False, True])
@pytest.mark.parametrize(
    ("selector", "text"),
    [
        (".digest-wrap div", "Bonjour"),
        (".digest-wrap p", "Vous recevez cette lettre"),
        (".digest-wrap a", "Voir la version en ligne"),
        (".digest-wrap h3 a", ""),
    ],
)
def test_text_stays_readable_in_light_and_dark_mode(
    built: Path,  # noqa: F811
    selector: str,
    text: str,
    dark: bool,
) -> None:
    html = (built / "issue.html").read_text(encoding="utf-8")
    foreground, background = colours(html, selector, text, dark=dark)
    assert contrast(foreground, background) >= 4.5, (foreground, background)
    assert (_luminance(background) < 0.1) is dark, background
