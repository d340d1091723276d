"""Settings: ``config/default.toml`` < user TOML file < environment (``DIGESTBOT_``, ``__``)."""

from __future__ import annotations

import json
import os
import re
import tomllib
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from bot.errors import SettingsError
from bot.resources import default_config_file

_PLACEHOLDERS = {"changeme", "change-me", "secret", "token", "xxx", "your-token-here", "todo"}
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ENV_PREFIX = "DIGESTBOT_"
# DIGESTBOT_ names read outside the settings model (config file, test database, sandbox spec)
OTHER_ENV_NAMES = frozenset(
    {"DIGESTBOT_CONFIG", "DIGESTBOT_TEST_PG", "DIGESTBOT_TELEGRAM_SPEC", "DIGESTBOT_LOG_FILE"}
)
_URL_PASSWORD = re.compile(r"^(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/?#@]*:)[^@/]+@")


def _comma_list(value: Any) -> Any:
    """Lists from the environment: ``mon,wed`` as well as the JSON ``["mon","wed"]``."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("["):
        try:
            return json.loads(text)
        except ValueError as exc:
            raise ValueError(f"{value!r} is neither a JSON list nor comma-separated") from exc
    return [part.strip() for part in text.split(",") if part.strip()]


CommaList = Annotated[list[str], NoDecode]
CommaIntList = Annotated[list[int], NoDecode]


def mask_url(url: str) -> str:
    """``postgresql://user:secret@host/db`` -> ``postgresql://user:***@host/db``."""
    return _URL_PASSWORD.sub(r"\g<head>***@", url)


def default_database_url() -> str:
    """SQLite in the per-user data folder (never the working folder, which cron sets to $HOME)."""
    from platformdirs import user_data_path

    return f"sqlite:///{user_data_path('digestbot', appauthor=False) / 'digestbot.db'}"


def _refuse_placeholder(value: SecretStr | None) -> SecretStr | None:
    if value is not None and value.get_secret_value().strip().lower() in _PLACEHOLDERS:
        raise ValueError("is a placeholder, set the real secret in the environment")
    return value


class _Section(BaseModel):
    """A settings table: unknown keys are refused (a typo must not be silently ignored)."""

    model_config = ConfigDict(extra="forbid")


class ScheduleSettings(_Section):
    timezone: str = "UTC"
    slots: CommaList = Field(default_factory=lambda: ["09:00", "13:00", "19:00"])
    days: CommaList = Field(default_factory=lambda: list(_DAYS))
    weekly_day: str = "sun"
    weekly_time: str = "20:00"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    _lists = field_validator("slots", "days", mode="before")(_comma_list)

    @field_validator("slots")
    @classmethod
    def _times(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("needs at least one HH:MM slot")
        for item in value:
            _check_time(item)
        return value

    @field_validator("weekly_time")
    @classmethod
    def _weekly_time(cls, value: str) -> str:
        return _check_time(value)

    @field_validator("days")
    @classmethod
    def _days(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("needs at least one day (mon..sun)")
        for day in value:
            _check_day(day)
        return [day.lower()[:3] for day in value]

    @field_validator("weekly_day")
    @classmethod
    def _weekly_day(cls, value: str) -> str:
        return _check_day(value).lower()[:3]


def _check_time(value: str) -> str:
    hours, _, minutes = value.partition(":")
    if not (hours.isdigit() and minutes.isdigit() and len(minutes) == 2):
        raise ValueError(f"{value!r} is not HH:MM")
    if not (0 <= int(hours) <= 23 and 0 <= int(minutes) <= 59):
        raise ValueError(f"{value!r} is not a time of day")
    return value


def _check_day(value: str) -> str:
    if value.lower()[:3] not in _DAYS:
        raise ValueError(f"{value!r} is not a day of the week (mon..sun)")
    return value


class TelegramSettings(_Section):
    token: SecretStr | None = None
    api_base_url: str = "https://api.telegram.org"
    channel_id: str | None = None
    maintainer_ids: CommaIntList = Field(default_factory=list)
    buttons: bool = True
    link_preview: bool = True
    connect_timeout_seconds: float = Field(default=5.0, gt=0)
    read_timeout_seconds: float = Field(default=5.0, gt=0)
    # a send that outlives its timeout may still arrive: wait long for sends, not for reads
    send_timeout_seconds: float = Field(default=30.0, gt=0)
    # Telegram's overall limit (30; up to 1000 with paid broadcasts), kept across processes
    messages_per_second: int = Field(default=30, ge=1, le=1000)
    # webhook mode (`digestbot web`): the public HTTPS URL Telegram posts updates to; when it
    # is set, `digestbot run` only sends (getUpdates would conflict with the webhook)
    webhook_url: str | None = None
    # sent back by Telegram in X-Telegram-Bot-Api-Secret-Token (environment only)
    webhook_secret: SecretStr | None = None

    _token = field_validator("token")(_refuse_placeholder)
    _webhook_secret = field_validator("webhook_secret")(_refuse_placeholder)

    @field_validator("webhook_url")
    @classmethod
    def _webhook_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        from urllib.parse import urlsplit

        parts = urlsplit(value.strip())
        if parts.scheme != "https" or not parts.hostname:
            raise ValueError(f"{value!r} is not an https:// URL (Telegram posts only to HTTPS)")
        return value.strip()

    @field_validator("webhook_secret")
    @classmethod
    def _secret_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not re.fullmatch(
            r"[A-Za-z0-9_-]{1,256}", value.get_secret_value()
        ):
            raise ValueError(
                "must be 1-256 characters from A-Z, a-z, 0-9, _ and - (Telegram's rule)"
            )
        return value

    @field_validator("api_base_url")
    @classmethod
    def _api_root(cls, value: str) -> str:
        """The API's root URL: a stray ``/bot`` suffix (copied from a method URL) is dropped,
        since digestbot appends ``/bot<token>`` itself."""
        root = value.strip().rstrip("/")
        if root.endswith("/bot"):
            root = root[: -len("/bot")]
        if not root.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return root

    _ids = field_validator("maintainer_ids", mode="before")(_comma_list)

    @field_validator("channel_id")
    @classmethod
    def _channel(cls, value: str | None) -> str | None:
        if value is None or value.startswith("@") or value.lstrip("-").isdigit():
            return value
        raise ValueError(f"{value!r} is neither @channelname nor a numeric chat id")


class TwitterSettings(_Section):
    consumer_key: SecretStr | None = None
    consumer_secret: SecretStr | None = None
    access_token: SecretStr | None = None
    access_token_secret: SecretStr | None = None
    api_base_url: str = "https://api.twitter.com"
    link: Literal["url", "arxiv_id", "none"] = "arxiv_id"
    link_fallback: Literal["title", "url", "skip"] = "title"
    daily_cap: int = Field(default=15, ge=0)
    monthly_budget_usd: float = Field(default=10.0, ge=0)
    cost_per_post_usd: float = Field(default=0.015, ge=0)
    cost_per_post_with_url_usd: float = Field(default=0.2, ge=0)

    _secrets = field_validator(
        "consumer_key", "consumer_secret", "access_token", "access_token_secret"
    )(_refuse_placeholder)

    def credentials_complete(self) -> bool:
        return all(
            s is not None and s.get_secret_value()
            for s in (
                self.consumer_key,
                self.consumer_secret,
                self.access_token,
                self.access_token_secret,
            )
        )


class DeliverySettings(_Section):
    lease_seconds: int = Field(default=120, ge=5)
    max_attempts: int = Field(default=6, ge=1)
    backoff_base_seconds: float = Field(default=30, gt=0)
    backoff_cap_seconds: float = Field(default=3600, gt=0)
    telegram_unknown_outcome: Literal["resend", "park"] = "resend"
    max_unknown_resends: int = Field(default=2, ge=0)
    poll_seconds: float = Field(default=5.0, gt=0)
    # a platform that cannot start (token rejected, API down) is tried again with back-off
    reconnect_base_seconds: float = Field(default=15.0, gt=0)
    reconnect_cap_seconds: float = Field(default=600.0, gt=0)


class ImporterSettings(_Section):
    max_bytes: int = Field(default=2_000_000, ge=1024)
    timeout_seconds: float = Field(default=20.0, gt=0)


class SearchSettings(_Section):
    max_query_chars: int = Field(default=200, ge=1)
    default_limit: int = Field(default=10, ge=1, le=100)


class ArxivSettings(_Section):
    """The arXiv API that proposes a comment for ``/add URL`` (title + first sentence)."""

    api_base_url: str = "https://export.arxiv.org"
    timeout_seconds: float = Field(default=10.0, gt=0)
    retries: int = Field(default=2, ge=0, le=5)

    @field_validator("api_base_url")
    @classmethod
    def _arxiv_root(cls, value: str) -> str:
        root = value.strip().rstrip("/")
        if not root.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return root


class FeedsSettings(_Section):
    """RSS/Atom feeds the worker polls for new digests (``digestbot feeds``)."""

    poll_minutes: float = Field(default=60.0, gt=0)  # the worker checks every feed this often
    timeout_seconds: float = Field(default=30.0, gt=0)  # one whole fetch, redirects included
    max_bytes: int = Field(default=10_000_000, ge=1024)  # a feed is cut off (refused) past it
    max_redirects: int = Field(default=5, ge=0, le=20)
    backoff_cap_minutes: float = Field(default=720.0, gt=0)  # a failing feed waits at most this
    alert_after_hours: float = Field(default=24.0, gt=0)  # failing this long: one alert


class WebSettings(_Section):
    """``digestbot web``: the ASGI server that receives Telegram's webhook requests."""

    host: str | None = None  # unset: 127.0.0.1, or 0.0.0.0 when $PORT is set (a PaaS)
    port: int | None = Field(default=None, ge=1, le=65535)  # unset: $PORT, else 8080
    path: str | None = None  # unset: the path of telegram.webhook_url, else /telegram
    max_body_bytes: int = Field(default=1_000_000, ge=1024)  # a bigger request gets 413
    shutdown_seconds: float = Field(default=30.0, gt=0)  # SIGTERM: in-flight updates finish

    @field_validator("path")
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("/"):
            raise ValueError(f"{value!r} must start with /")
        return value


class Settings(BaseSettings):
    """Every setting of digestbot; see config/default.toml for the documented defaults."""

    model_config = SettingsConfigDict(
        env_prefix="DIGESTBOT_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )
    _config_files: ClassVar[tuple[Path, ...]] = ()

    database_url: str = Field(default_factory=default_database_url)
    # Telegram's shared budget (30 msg/s, 1/s per chat) in Redis instead of the database
    # (every process of the bot must have the same): e.g. redis://127.0.0.1:6379/0
    redis_url: str | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    schedule: ScheduleSettings = Field(default_factory=ScheduleSettings)
    telegram: TelegramSettings = Field(default_factory=TelegramSettings)
    twitter: TwitterSettings = Field(default_factory=TwitterSettings)
    delivery: DeliverySettings = Field(default_factory=DeliverySettings)
    importer: ImporterSettings = Field(default_factory=ImporterSettings)
    search: SearchSettings = Field(default_factory=SearchSettings)
    feeds: FeedsSettings = Field(default_factory=FeedsSettings)
    arxiv: ArxivSettings = Field(default_factory=ArxivSettings)
    web: WebSettings = Field(default_factory=WebSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        files = [TomlConfigSettingsSource(settings_cls, toml_file=p) for p in cls._config_files]
        return (init_settings, KnownEnvSettingsSource(settings_cls), *reversed(files))

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        scheme, sep, _ = value.partition("://")
        if not sep or not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", scheme):
            raise ValueError(
                f"{mask_url(value)!r} is not a database URL: use sqlite:////absolute/path.db "
                "or postgresql://user@host/dbname"
            )
        backend = scheme.partition("+")[0].lower()
        if backend == "postgres":  # the Heroku-style alias SQLAlchemy no longer accepts
            return "postgresql" + value[len("postgres") :]
        if backend not in ("sqlite", "postgresql"):
            raise ValueError(f"unsupported database {backend!r}: use sqlite:/// or postgresql://")
        return value

    def secret_values(self) -> list[str]:
        """Every configured secret's value (tokens, keys, the database password): the logs
        and every error message redact them by value."""
        values = [
            secret.get_secret_value()
            for secret in (
                self.telegram.token,
                self.telegram.webhook_secret,
                self.twitter.consumer_key,
                self.twitter.consumer_secret,
                self.twitter.access_token,
                self.twitter.access_token_secret,
            )
            if secret is not None
        ]
        from bot.store.sqlite_conn import url_password  # SQLAlchemy's reading, without it

        if password := url_password(self.database_url):
            values.append(password)
        if self.redis_url and (password := url_password(self.redis_url)):
            values.append(password)
        return values

    def masked(self) -> dict[str, Any]:
        """The effective settings as plain data: secrets shown as ``**********``, URL
        passwords as ``***``."""
        masked: dict[str, Any] = _mask_urls(self.model_dump(mode="json"))
        return masked


def _mask_urls(data: Any) -> Any:
    if isinstance(data, dict):
        return {key: _mask_urls(value) for key, value in data.items()}
    if isinstance(data, list):
        return [_mask_urls(value) for value in data]
    return mask_url(data) if isinstance(data, str) else data


def _section(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _is_secret(annotation: Any) -> bool:
    return annotation is SecretStr or SecretStr in typing.get_args(annotation)


def known_env_names() -> frozenset[str]:
    """Every DIGESTBOT_ variable digestbot reads (upper case)."""
    names = set(OTHER_ENV_NAMES)
    for name, field in Settings.model_fields.items():
        names.add(f"{ENV_PREFIX}{name}".upper())
        if section := _section(field.annotation):
            for key in section.model_fields:
                names.add(f"{ENV_PREFIX}{name}__{key}".upper())
    return frozenset(names)


def unknown_env_names(environ: Mapping[str, str]) -> list[str]:
    """DIGESTBOT_ variables that match no setting (a typo must not pass unnoticed)."""
    known = known_env_names()
    return sorted(
        key for key in environ if key.upper().startswith(ENV_PREFIX) and key.upper() not in known
    )


def env_warning(name: str) -> str:
    import difflib  # only when a name is unknown

    tails = sorted(known[len(ENV_PREFIX) :] for known in known_env_names())
    close = difflib.get_close_matches(name.upper()[len(ENV_PREFIX) :], tails, n=1, cutoff=0.75)
    hint = f" (did you mean {ENV_PREFIX}{close[0]}?)" if close else ""
    return f"ignoring unknown environment variable {name}{hint}"


class KnownEnvSettingsSource(EnvSettingsSource):
    """The environment, minus unknown DIGESTBOT_ names: those are warned about by the caller
    (``unknown_env_names``) instead of stopping the program."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        known = {name.lower() for name in known_env_names()}
        return {
            key: value
            for key, value in super()._load_env_vars().items()
            if not key.lower().startswith(ENV_PREFIX.lower()) or key.lower() in known
        }


class ConfigError(SettingsError):
    """Settings that cannot be used; the message names each bad key."""


def load_settings(config: Path | str | None = None, **overrides: Any) -> Settings:
    """Read defaults, then the user's TOML file (argument or DIGESTBOT_CONFIG), then env."""
    user = config if config is not None else os.environ.get("DIGESTBOT_CONFIG") or None
    files = [default_config_file()]
    if user is not None:
        path = Path(user).expanduser()
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        files.append(path)
    for file in files:
        refuse_secrets(file)
    loaded = type("LoadedSettings", (Settings,), {"_config_files": tuple(files)})
    try:
        settings: Settings = loaded(**overrides)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc)) from None
    except ValueError as exc:  # malformed TOML, bad env JSON
        raise ConfigError(f"cannot read settings: {exc}") from None
    return settings


def refuse_secrets(path: Path) -> None:
    """A TOML file may not hold a secret: files get copied, shared and committed."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read settings from {path}: {exc}") from None
    for name, field in Settings.model_fields.items():
        value = data.get(name)
        keys: list[str] = []
        if _is_secret(field.annotation) and value is not None:
            keys.append(name)
        elif (section := _section(field.annotation)) and isinstance(value, dict):
            secrets = [k for k, f in section.model_fields.items() if _is_secret(f.annotation)]
            keys += [f"{name}.{k}" for k in secrets if k in value]
        if keys:
            env = f"{ENV_PREFIX}{keys[0].replace('.', '__').upper()}"
            raise ConfigError(
                f"secrets come only from the environment: remove {keys[0]} from {path} "
                f"and set {env}"
            )


def describe_validation_error(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        key = ".".join(str(part) for part in err["loc"]) or "(settings)"
        message = err["msg"].removeprefix("Value error, ")  # pydantic's prefix says nothing
        lines.append(f"invalid setting {key}: {message}")
    return "\n".join(lines)
