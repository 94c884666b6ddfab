"""Settings: one TOML file plus ``DIGEST_<SECTION>__<KEY>`` environment overrides.

Loaded once at the edge (cli, scheduling, web); each stage receives only its sub-config.
Secrets (``DIGEST_SMTP__PASSWORD``, ``DIGEST_SECRET_KEY``) come from the environment only.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from pydantic_settings.exceptions import SettingsError

from digest.errors import ConfigError

ENV_PREFIX = "DIGEST_"
_URL_PASSWORD = re.compile(r"(//[^:/@]*:)[^@/]*@")
_SECRET_KEYS = (("smtp", "password"), ("secret_key",), ("summarizer", "api_key"))


def known_timezone(value: str) -> str:
    """``value`` if it names an IANA timezone, else a ValueError saying what is expected."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown timezone {value!r} (e.g. Europe/Paris)") from exc
    return value


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SocialLink(_Section):
    """One link of the footer to the newsroom elsewhere (Mastodon, Instagram, ...)."""

    name: str
    url: str

    @field_validator("url")
    @classmethod
    def _https_link(cls, value: str) -> str:
        if not value.startswith("https://"):
            raise ValueError("must be an https:// URL")
        return value


class NewsletterSettings(_Section):
    """Who sends the newsletter and what it looks like."""

    name: str = "Toujours+"
    from_address: str = "lettre@exemple.fr"
    from_name: str = ""
    reply_to: str = ""
    publisher: str = "La Rédaction"
    publisher_address: str = "1 rue de l'Exemple, 75001 Paris, France"
    web_base_url: str = "https://lettre.exemple.fr"
    unsubscribe_mailto: str = "desinscription@exemple.fr"
    timezone: str = "Europe/Paris"
    accent_color: str = "#b3122e"
    logo_url: str = ""
    social_links: tuple[SocialLink, ...] = ()

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        return known_timezone(value)

    @field_validator("web_base_url")
    @classmethod
    def _https_base(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an absolute http(s) URL")
        return value.rstrip("/")

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class SourceSettings(_Section):
    """One ``[[sources]]`` table: where the week's articles come from."""

    name: str
    kind: Literal["feed", "folder", "wordpress", "page"]
    url: str = ""
    path: Path | None = None
    base_url: str = ""
    section: str = ""
    urls: tuple[str, ...] = ()
    full_text: Literal["auto", "always", "never"] = "auto"
    weight: float = Field(default=1.0, gt=0, le=100)


class GatherSettings(_Section):
    """How sources are fetched (HTTP, cache) and which of the week's articles are kept."""

    cache_dir: Path | None = None
    page_max_age_hours: float = Field(default=168.0, ge=0)
    per_host: int = Field(default=6, ge=1, le=64)
    timeout_seconds: float = Field(default=15.0, gt=0)
    retries: int = Field(default=2, ge=0, le=10)
    max_body_kib: int = Field(default=5120, ge=16)
    max_articles: int = Field(default=0, ge=0)
    max_per_section: int = Field(default=0, ge=0)
    min_articles: int = Field(default=0, ge=0)
    editorial_dir: Path | None = None


class CompositionSettings(_Section):
    """How the week's articles become an issue."""

    sections: tuple[str, ...] = ()
    max_articles: int = Field(default=30, ge=1, le=200)
    featured_url: str = ""
    editor_note_path: str = ""
    editor_signature: str = ""
    editor_role: str = ""
    editor_photo_url: str = ""
    introduction: Literal["generated", "none"] = "generated"
    subject_template: str = "{newsletter} n°{number} : {featured}"
    html_budget_kib: int = Field(default=90, ge=20, le=100)


class ModelEndpointSettings(_Section):
    """An OpenAI-compatible chat completions endpoint that writes summaries."""

    base_url: str = "http://127.0.0.1:11434/v1"
    name: str = ""
    timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    concurrency: int = Field(default=4, ge=1, le=64)

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")


class SummarizerSettings(_Section):
    """Which summarizer writes the summaries, how long they are and in which style."""

    kind: Literal["learned", "lead", "model"] = "learned"
    max_words: int = Field(default=30, ge=8, le=120)
    # When set, the target length in characters instead of words.
    max_chars: int = Field(default=0, ge=0, le=1000)
    style: Literal["paragraph", "key_points"] = "paragraph"
    model: ModelEndpointSettings = ModelEndpointSettings()
    api_key: SecretStr = SecretStr("")

    @model_validator(mode="after")
    def _model_named(self) -> SummarizerSettings:
        if self.kind == "model" and not self.model.name:
            raise ValueError("kind 'model' needs summarizer.model.name (the model to call)")
        return self


class TemplateSettings(_Section):
    """Where a user's own templates shadow the bundled ones."""

    folder: Path | None = None


class SmtpSettings(_Section):
    """The relay that delivers the mail (no host: previews go to the local mail catcher)."""

    host: str = ""
    port: int = Field(default=25, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str = ""
    password: SecretStr = SecretStr("")
    timeout: float = Field(default=30.0, gt=0)
    connections: int = Field(default=4, ge=1, le=64)
    ca_file: Path | None = None
    name: str = ""
    weight: int = Field(default=1, ge=1, le=1000)
    per_second: float = Field(default=0.0, ge=0)
    per_hour: int = Field(default=0, ge=0)
    # Explicit exceptions to TLS: one named host whose certificate is not verified, and a
    # login sent without TLS (a relay on the same machine).
    tls_unverified_host: str = ""
    allow_plain_auth: bool = False

    @model_validator(mode="after")
    def _tls_exceptions_named(self) -> SmtpSettings:
        if self.tls_unverified_host and self.tls_unverified_host != self.host:
            raise ValueError(
                f"tls_unverified_host {self.tls_unverified_host!r} is not the relay's host "
                f"{self.host!r}; certificate checks are only turned off for that named host"
            )
        if self.username and self.security == "none" and not self.allow_plain_auth:
            raise ValueError(
                "a username with security 'none' would send the password in clear; use "
                "'starttls' or 'tls', or set allow_plain_auth = true for a local relay"
            )
        return self

    @property
    def label(self) -> str:
        """How the relay is named in reports and in the hourly quota."""
        return self.name or f"{self.host}:{self.port}"


class RelaySettings(SmtpSettings):
    """One more relay next to ``[smtp]``; its password comes from the variable ``password_env``."""

    password_env: str = ""

    @field_validator("password")
    @classmethod
    def _no_password_in_file(cls, value: SecretStr) -> SecretStr:
        if value.get_secret_value():
            raise ValueError("a relay's password goes in the variable named by password_env")
        return value


class DeliverySettings(_Section):
    """How a send goes: retries, pauses, relays beyond [smtp], DKIM, bounces."""

    relays: tuple[RelaySettings, ...] = ()
    max_attempts: int = Field(default=5, ge=1, le=50)
    retry_base_seconds: float = Field(default=60.0, ge=0)
    retry_max_seconds: float = Field(default=3600.0, ge=0)
    pause_after_failures: int = Field(default=10, ge=1)
    relay_cooldown_seconds: float = Field(default=30.0, ge=0)
    page_size: int = Field(default=1000, ge=1, le=100_000)
    worker_lease_seconds: float = Field(default=30.0, ge=1, le=3600)
    dkim_key_file: Path | None = None
    dkim_selector: str = ""
    dkim_domain: str = ""
    feedback_id: str = ""
    soft_bounce_limit: int = Field(default=3, ge=1)


class WebSettings(_Section):
    """The subscribers' web side (`digest serve`): sign-up, unsubscribe, preferences, archive."""

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    confirmation_hours: int = Field(default=48, ge=1, le=24 * 30)
    resend_confirmation_minutes: int = Field(default=60, ge=1)
    signups_per_ip_per_hour: int = Field(default=10, ge=1)
    max_body_bytes: int = Field(default=16384, ge=1024)


_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class ScheduleSettings(_Section):
    """When `digest schedule` builds, previews and sends each week ("fri 07:00")."""

    build: str = "thu 18:00"
    preview: str = "thu 18:30"
    send: str = "fri 07:00"
    timezone: str = ""
    misfire_grace_minutes: int = Field(default=180, ge=1, le=24 * 60)
    lease_seconds: int = Field(default=60, ge=5, le=3600)

    @field_validator("build", "preview", "send")
    @classmethod
    def _day_and_time(cls, value: str) -> str:
        day, _, clock = value.strip().lower().partition(" ")
        hour, _, minute = clock.partition(":")
        if day not in _DAYS or not (hour.isdigit() and minute.isdigit()):
            raise ValueError(f"{value!r} is not of the form 'fri 07:00'")
        if int(hour) > 23 or int(minute) > 59:
            raise ValueError(f"{value!r} is not a time of day")
        return f"{day} {int(hour):02d}:{int(minute):02d}"

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        return known_timezone(value) if value else value


class DatabaseSettings(_Section):
    """The ledger: subscribers, issues and deliveries."""

    url: str = "sqlite:///digest.db"

    def __repr_args__(self) -> Any:
        # A PostgreSQL URL may hold a password: repr (and so logs) shows it hidden.
        for name, value in super().__repr_args__():
            yield name, _URL_PASSWORD.sub(r"\1***@", value) if name == "url" else value


class Settings(BaseSettings):
    """Every setting of digest; see config/digest.example.toml."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    newsletter: NewsletterSettings = NewsletterSettings()
    sources: tuple[SourceSettings, ...] = ()
    gather: GatherSettings = GatherSettings()
    composition: CompositionSettings = CompositionSettings()
    summarizer: SummarizerSettings = SummarizerSettings()
    templates: TemplateSettings = TemplateSettings()
    smtp: SmtpSettings = SmtpSettings()
    sending: DeliverySettings = DeliverySettings()
    database: DatabaseSettings = DatabaseSettings()
    web: WebSettings = WebSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    preview_recipients: tuple[str, ...] = ()
    secret_key: SecretStr = SecretStr("")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment overrides the file, which is passed as init values.
        return (env_settings, init_settings)


def load_settings(path: Path | None) -> Settings:
    """Read ``path`` (or only defaults and the environment when None) into Settings."""
    data: dict[str, Any] = {}
    label = str(path) if path is not None else "the environment"
    if path is not None:
        data = _read_toml(path)
        _refuse_secrets_in_file(data, path)
        _resolve_paths(data, path.parent)
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, label)) from exc
    except SettingsError as exc:
        raise ConfigError(_describe_environment(exc)) from exc


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError as exc:
        raise ConfigError(f"config file {path} not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path} is not UTF-8 text (byte {exc.start}); save it as UTF-8") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc


def _refuse_secrets_in_file(data: dict[str, Any], path: Path) -> None:
    for keys in _SECRET_KEYS:
        node: Any = data
        for key in keys:
            node = node.get(key) if isinstance(node, dict) else None
        if node is not None:
            env = ENV_PREFIX + "__".join(keys).upper()
            raise ConfigError(
                f"{path}: '{'.'.join(keys)}' is a secret; remove it and set {env} instead"
            )


def _resolve_paths(data: dict[str, Any], base: Path) -> None:
    """Relative paths in the file are relative to the file, not to the working directory."""
    for source in data.get("sources", []):
        if isinstance(source, dict) and isinstance(source.get("path"), str):
            source["path"] = str((base / source["path"]).resolve())
    gather = data.get("gather")
    if isinstance(gather, dict):
        for key in ("cache_dir", "editorial_dir"):
            if isinstance(gather.get(key), str):
                gather[key] = str((base / gather[key]).resolve())
    smtp = data.get("smtp")
    if isinstance(smtp, dict) and isinstance(smtp.get("ca_file"), str):
        smtp["ca_file"] = str((base / smtp["ca_file"]).resolve())
    sending = data.get("sending")
    if isinstance(sending, dict) and isinstance(sending.get("dkim_key_file"), str):
        sending["dkim_key_file"] = str((base / sending["dkim_key_file"]).resolve())
    templates = data.get("templates")
    if isinstance(templates, dict) and isinstance(templates.get("folder"), str):
        templates["folder"] = str((base / templates["folder"]).resolve())
    composition = data.get("composition")
    if isinstance(composition, dict) and isinstance(composition.get("editor_note_path"), str):
        note = composition["editor_note_path"]
        if note and not Path(note).is_absolute():
            composition["editor_note_path"] = str(base / note)
    database = data.get("database")
    if isinstance(database, dict) and isinstance(database.get("url"), str):
        database["url"] = _resolve_sqlite_url(database["url"], base)


def _resolve_sqlite_url(url: str, base: Path) -> str:
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and url != prefix + ":memory:":
        return prefix + str((base / url[len(prefix) :]).resolve())
    return url


def _describe_environment(exc: SettingsError) -> str:
    """pydantic-settings' complaint about a variable holding a list or table as bad JSON."""
    field = re.search(r'field "(\w+)"', str(exc))
    prefix = ENV_PREFIX + (field.group(1).upper() if field else "")
    names = [
        name
        for name in sorted(os.environ)
        if name.upper() == prefix or name.upper().startswith(prefix + "__")
    ]
    return (
        f"bad value in the environment variable {' or '.join(names) or prefix}: a list or "
        'table must be JSON, e.g. ["a", "b"] or {"key": "value"}'
    )


def _describe(exc: ValidationError, label: str) -> str:
    error = exc.errors()[0]
    key = ".".join(str(part) for part in error["loc"])
    if error["type"] == "extra_forbidden":
        return f"unknown key '{key}' in {label}"
    if error["type"] == "missing":
        return f"missing key '{key}' in {label}"
    message = str(error["msg"]).removeprefix("Value error, ")
    env = ENV_PREFIX + "__".join(str(p) for p in error["loc"] if not isinstance(p, int)).upper()
    return f"bad value for '{key}' in {label} (or {env}): {message}"
