"""Preflight of a rendered issue: findings with severities, and `digest check`."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from digest.config import NewsletterSettings, TemplateSettings
from digest.models import RenderedIssue
from digest.preflight import Severity, check_issue, has_errors, link_problem
from digest.rendering import SLOT_UNSUBSCRIBE_URL, Renderer
from tests.test_rendering import DATE_LABEL, make_issue
from tests.weekkit import digest
from tests.weekkit import write_config as write_week_config


@pytest.fixture(scope="module")
def good() -> RenderedIssue:
    return Renderer(TemplateSettings(), NewsletterSettings()).render(
        make_issue(), date_label=DATE_LABEL
    )


def checks(rendered: RenderedIssue, severity: Severity) -> set[str]:
    return {f.check for f in check_issue(rendered) if f.severity is severity}


def test_the_rendered_issue_has_no_error(good: RenderedIssue) -> None:
    findings = check_issue(good)
    assert not has_errors(findings), findings


def test_an_issue_past_gmail_clipping_is_an_error(good: RenderedIssue) -> None:
    padding = "<p>" + "x" * 104 * 1024 + "</p></body>"
    big = dataclasses.replace(good, html=good.html.replace("</body>", padding))
    findings = [f for f in check_issue(big) if f.check == "size"]
    assert findings and findings[0].severity is Severity.ERROR
    assert "102 KiB" in findings[0].message
    over_budget = check_issue(good, budget_bytes=10 * 1024)
    assert [f.severity for f in over_budget if f.check == "size"] == [Severity.WARNING]


def test_an_image_without_alt_is_an_error(good: RenderedIssue) -> None:
    html = good.html.replace("</body>", '<img src="https://x.fr/a.png"></body>')
    findings = check_issue(dataclasses.replace(good, html=html))
    assert any(f.check == "alt" and "https://x.fr/a.png" in f.message for f in findings)
    assert has_errors(findings)


@pytest.mark.parametrize(
    ("href", "severity"),
    [
        ("", Severity.ERROR),
        ("#", Severity.ERROR),
        ("javascript:alert(1)", Severity.ERROR),
        ("/archives", Severity.ERROR),
        ("https://exemple.fr/a b", Severity.ERROR),
        ("mailto:", Severity.ERROR),
        ("http://exemple.fr/a", Severity.WARNING),
        ("https://localhost/a", Severity.WARNING),
    ],
)
def test_bad_links_are_found(href: str, severity: Severity) -> None:
    problem = link_problem(href)
    assert problem is not None and problem[0] is severity


@pytest.mark.parametrize(
    "href", ["https://exemple.fr/a?b=1", "mailto:redaction@exemple.fr", SLOT_UNSUBSCRIBE_URL]
)
def test_good_links_pass(href: str) -> None:
    assert link_problem(href) is None


def test_missing_text_part_and_unsubscribe_links_are_errors(good: RenderedIssue) -> None:
    assert {"text", "unsubscribe"} <= checks(dataclasses.replace(good, text=""), Severity.ERROR)
    no_link = dataclasses.replace(
        good, html=good.html.replace(SLOT_UNSUBSCRIBE_URL, "https://x.fr")
    )
    assert "unsubscribe" in checks(no_link, Severity.ERROR)


def test_text_part_missing_a_link_or_with_long_lines_is_a_warning(good: RenderedIssue) -> None:
    url = "https://www.exemple.fr/culture/article-0"
    text = good.text.replace(url, "") + "mot " * 30 + "\n"
    messages = [f.message for f in check_issue(dataclasses.replace(good, text=text))]
    assert any("not in the text part" in m and url in m for m in messages)
    assert any("over 78 columns" in m for m in messages)


def test_subject_and_preheader_lengths(good: RenderedIssue) -> None:
    assert "subject" in checks(dataclasses.replace(good, subject=" "), Severity.ERROR)
    long = dataclasses.replace(good, subject="Toujours+ " * 10, preheader="Court.")
    assert {"subject", "preheader"} <= checks(long, Severity.WARNING)


def test_errors_come_first(good: RenderedIssue) -> None:
    bad = dataclasses.replace(good, subject="x" * 100, text="")
    severities = [f.severity for f in check_issue(bad)]
    assert severities == sorted(severities, key=lambda s: s is not Severity.ERROR)
    assert str(check_issue(bad)[0]).startswith("error: ")


def write_config(folder: Path, templates: Path | None = None) -> Path:
    extra = f'[templates]\nfolder = "{templates}"\n' if templates else ""
    return write_week_config(folder, extra=extra)


def test_digest_check_lists_the_findings_of_the_saved_issue(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    assert digest(config, "check", "--week", "2025-W04").returncode == 1, "nothing built"
    built = digest(config, "build", "--week", "2025-W04", "--out", "out")
    assert built.returncode == 0, built.stderr
    done = digest(config, "check", "--week", "2025-W04")
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"\(2025-W04\): \d+\.\d KiB of HTML, \d+ findings", done.stdout)
    assert "error:" not in done.stdout


def test_build_refuses_an_issue_without_unsubscribe_link(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "_footer.mjml.j2").write_text(
        "<mj-section><mj-column><mj-text>Au revoir</mj-text></mj-column></mj-section>\n",
        encoding="utf-8",
    )
    config = write_config(tmp_path, templates)
    built = digest(config, "build", "--week", "2025-W04", "--out", "out")
    assert built.returncode == 1
    assert "not ready, not saved" in built.stderr
    assert "error: unsubscribe: the HTML part has no unsubscribe link" in built.stderr
    assert "Traceback" not in built.stderr
    status = digest(config, "status", "--week", "2025-W04")
    assert status.returncode == 0
    assert "week 2025-W04: not built" in status.stdout
