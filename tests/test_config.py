"""Settings: TOML plus environment overrides, strict about unknown keys and secrets."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from pydantic import BaseModel

from digest.config import _SECRET_KEYS, Settings, load_settings
from digest.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "config" / "digest.example.toml"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "digest.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_example_config_loads_and_names_every_setting() -> None:
    load_settings(EXAMPLE)
    text = EXAMPLE.read_text(encoding="utf-8")
    secrets = {".".join(keys) for keys in _SECRET_KEYS}
    for key in _setting_paths(Settings, ""):
        if key in secrets:
            env = "DIGEST_" + key.replace(".", "__").upper()
            assert env in text, f"{env} is not documented in {EXAMPLE.name}"
            continue
        section, _, name = key.rpartition(".")
        if section == "sources":
            assert f"# {name} =" in text, f"sources.{name} is not documented"
            continue
        assert f"{name} =" in text, f"setting {key} is not documented in {EXAMPLE.name}"


def _setting_paths(model: type[BaseModel], prefix: str) -> list[str]:
    paths = []
    for name, info in model.model_fields.items():
        annotation = info.annotation
        inner = getattr(annotation, "__args__", (annotation,))[0]
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            paths += _setting_paths(annotation, f"{prefix}{name}.")
        elif name == "sources" and isinstance(inner, type) and issubclass(inner, BaseModel):
            paths += _setting_paths(inner, "sources.")
        else:
            paths.append(prefix + name)
    return paths


def test_the_demo_config_is_valid_toml_and_settings() -> None:
    demo = ROOT / "config" / "demo.toml"
    assert tomllib.loads(demo.read_text(encoding="utf-8"))["newsletter"]["name"] == "Toujours+"
    assert load_settings(demo).sources[0].kind == "folder"


def test_an_unknown_key_names_the_key_and_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "[smtp]\nhots = 'x'\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert str(caught.value) == f"unknown key 'smtp.hots' in {path}"


def test_a_bad_value_names_the_key_and_its_environment_variable(tmp_path: Path) -> None:
    path = _write(tmp_path, "[smtp]\nport = 'vingt-cinq'\n")
    with pytest.raises(
        ConfigError, match=r"'smtp\.port' in .*digest\.toml \(or DIGEST_SMTP__PORT\)"
    ):
        load_settings(path)


def test_an_unknown_timezone_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "[newsletter]\ntimezone = 'Europe/Pariss'\n")
    with pytest.raises(ConfigError, match="unknown timezone 'Europe/Pariss'"):
        load_settings(path)


def test_a_secret_in_the_file_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "[smtp]\npassword = 'hunter2'\n")
    with pytest.raises(ConfigError, match="set DIGEST_SMTP__PASSWORD instead"):
        load_settings(path)


def test_environment_overrides_the_file_and_secrets_stay_hidden(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path, "[smtp]\nhost = 'relay.example.org'\nport = 587\n")
    monkeypatch.setenv("DIGEST_SMTP__PORT", "2525")
    monkeypatch.setenv("DIGEST_SMTP__PASSWORD", "hunter2")
    settings = load_settings(path)
    assert (settings.smtp.host, settings.smtp.port) == ("relay.example.org", 2525)
    assert settings.smtp.password.get_secret_value() == "hunter2"
    assert "hunter2" not in repr(settings)


def test_relative_paths_are_relative_to_the_file(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "[[sources]]\nname = 'a'\nkind = 'folder'\npath = 'articles'\n"
        "[database]\nurl = 'sqlite:///ledger.db'\n",
    )
    settings = load_settings(path)
    assert settings.sources[0].path == (tmp_path / "articles").resolve()
    assert settings.database.url == f"sqlite:///{(tmp_path / 'ledger.db').resolve()}"


def test_invalid_toml_is_one_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "[smtp\n")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_settings(path)
