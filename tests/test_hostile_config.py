"""Broken settings and templates: one line naming the file, key or line, and nothing sent."""

from __future__ import annotations

from pathlib import Path

import pytest

from digest.config import load_settings
from digest.errors import ConfigError
from tests.conftest import SmtpServer
from tests.weekkit import digest, write_config

TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "email"
LEAD = '[summarizer]\nkind = "lead"\n'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[smtp\n", "is not valid TOML: Expected ']' at the end of a table declaration"),
        ("[smtp]\nhost = 'a'\nhost = 'b'\n", "is not valid TOML: Cannot overwrite a value"),
        ("hots = 'x'\n", "unknown key 'hots' in {path}"),
        ("[smtpp]\nhost = 'x'\n", "unknown key 'smtpp' in {path}"),
        ("[smtp]\nport = 0\n", "'smtp.port' in {path} (or DIGEST_SMTP__PORT)"),
        ("[smtp]\nsecurity = 'ssl'\n", "'smtp.security' in {path} (or DIGEST_SMTP__SECURITY)"),
        ("[smtp]\nhost = ['a']\n", "'smtp.host' in {path}"),
        ("smtp = 'x'\n", "'smtp' in {path} (or DIGEST_SMTP)"),
        ("[[sources]]\nname = 'a'\nkind = 'rss'\n", "'sources.0.kind' in {path}"),
        ("[[sources]]\nkind = 'feed'\n", "missing key 'sources.0.name' in {path}"),
        ("[[sources]]\nname = 'a'\nkind = 'feed'\nweight = 0\n", "'sources.0.weight' in"),
        ("sources = 'x'\n", "'sources' in {path}"),
        ("[[sending.relays]]\nhost = 'a'\nport = 'x'\n", "'sending.relays.0.port' in {path}"),
        ("[schedule]\nsend = 'vendredi 7h'\n", "'vendredi 7h' is not of the form 'fri 07:00'"),
        ("[newsletter]\ntimezone = 'Mars/Base'\n", "unknown timezone 'Mars/Base'"),
        ("[newsletter]\nweb_base_url = 'ftp://x'\n", "'newsletter.web_base_url' in {path}"),
        ("[newsletter]\nsocial_links = [{name = 'a', url = 'http://x'}]\n", "must be an https"),
        ("[summarizer]\nkind = 'model'\n", "needs summarizer.model.name"),
        ("[composition]\nhtml_budget_kib = 1000\n", "'composition.html_budget_kib' in {path}"),
        ("[smtp]\npassword = 'hunter2'\n", "set DIGEST_SMTP__PASSWORD instead"),
        ("secret_key = 'x'\n", "set DIGEST_SECRET_KEY instead"),
        ("[[sending.relays]]\nhost = 'a'\npassword = 'x'\n", "goes in the variable named by"),
        (
            "[smtp]\nhost = 'a.example.org'\ntls_unverified_host = 'b.example.org'\n",
            "'smtp' in {path} (or DIGEST_SMTP): tls_unverified_host 'b.example.org' is not",
        ),
        (
            "[smtp]\nhost = 'a.example.org'\nsecurity = 'none'\nusername = 'u'\n",
            "a username with security 'none' would send the password in clear",
        ),
        (
            "[[sending.relays]]\nhost = 'a.example.org'\nsecurity = 'none'\nusername = 'u'\n",
            "'sending.relays.0' in {path}",
        ),
    ],
)
def test_every_invalid_setting_is_one_line_naming_it(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "digest.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    message = str(caught.value)
    assert "\n" not in message
    assert expected.format(path=path) in message
    assert "hunter2" not in message


def test_a_config_file_that_is_not_utf8_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "digest.toml"
    path.write_bytes(b"\xff\xfe[smtp]\n")
    with pytest.raises(ConfigError, match=r"digest\.toml is not UTF-8 text \(byte 0\)"):
        load_settings(path)


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("DIGEST_SMTP__PORT", "vingt-cinq", "bad value for 'smtp.port' in the environment"),
        ("DIGEST_SMTP__HOTS", "x", "unknown key 'smtp.hots' in the environment"),
        ("DIGEST_SOURCES", "[", "bad value in the environment variable DIGEST_SOURCES: a list"),
        ("DIGEST_SMTP", "{", "bad value in the environment variable DIGEST_SMTP: a list"),
        (
            "DIGEST_NEWSLETTER__SOCIAL_LINKS",
            "[1",
            "environment variable DIGEST_NEWSLETTER__SOCIAL_LINKS: a list or table must be JSON",
        ),
        ("DIGEST_PREVIEW_RECIPIENTS", "a@b.fr", "variable DIGEST_PREVIEW_RECIPIENTS: a list"),
    ],
)
def test_a_bad_environment_variable_is_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as caught:
        load_settings(None)
    assert "\n" not in str(caught.value)
    assert expected in str(caught.value)


def test_the_command_line_reports_a_bad_setting_in_one_line_without_a_traceback(
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path, extra="[gather]\nper_host = 0\n")
    outcome = digest(config, "build", "--week", "2025-W04")
    assert outcome.returncode == 1
    assert outcome.stderr.splitlines() == [
        f"digest: error: bad value for 'gather.per_host' in {config} (or DIGEST_GATHER__PER_HOST)"
        ": Input should be greater than or equal to 1"
    ]


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        ("{{ story.article.title }}", "{{ story.article.title }", "line 3: unexpected '}'"),
        ("{{ story.article.title }}", "{{ story.article.titel }}", "line 3: 'digest.models."),
        ("{{ story.article.title }}", "{{ nope }}", "line 3: 'nope' is undefined"),
        ("{{ story.article.title }}", "{% if story %}", "line 5: Unexpected end of template"),
    ],
)
def test_a_broken_template_names_its_line_saves_nothing_and_sends_nothing(
    tmp_path: Path, smtp_server: SmtpServer, old: str, new: str, reason: str
) -> None:
    folder = tmp_path / "gabarits"
    folder.mkdir()
    card = (TEMPLATES / "_card.mjml.j2").read_text(encoding="utf-8")
    assert old in card.splitlines()[2]
    (folder / "_card.mjml.j2").write_text(card.replace(old, new, 1), encoding="utf-8")
    extra = f'{LEAD}[templates]\nfolder = "gabarits"\n'
    config = write_config(tmp_path, smtp_server, extra=extra)
    (tmp_path / "subs.csv").write_text("email\nclaire@example.org\n", encoding="utf-8")
    assert digest(config, "subscribers", "import", "subs.csv").returncode == 0

    built = digest(config, "build", "--week", "2025-W04", "--out", "out")
    assert built.returncode == 1
    (line,) = built.stderr.splitlines()
    assert line.startswith(f"digest: error: template {folder / '_card.mjml.j2'}, {reason}")
    assert not (tmp_path / "out").exists()
    for command in (["send-preview"], ["send"]):
        sent = digest(config, *command, "--week", "2025-W04")
        assert sent.returncode == 1
        assert len(sent.stderr.splitlines()) == 1
    assert smtp_server.handler.messages == []
