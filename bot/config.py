"""Settings: ``config/default.toml`` < user TOML file < environment (``DIGESTBOT_``, ``__``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from bot.resources import default_config_file

_PLACEHOLDERS = {"changeme", "change-me", "secret", "token", "xxx", "your-token-here", "todo"}
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _refuse_placeholder(value: SecretStr | None) -> SecretStr | None:
    if value is not None and value.get_secret_value().strip().lower() in _PLACEHOLDERS:
        raise ValueError("is a placeholder, set the real secret in the environment")
    return value


class _Section(BaseModel):
    """A settings table: unknown keys are refused (a typo must not be silently ignored)."""

    model_config = ConfigDict(extra="forbid")


class ScheduleSettings(_Section):
    timezone: str = "UTC"
    slots: list[str] = Field(default_factory=lambda: ["09:00", "13:00", "19:00"])
    days: list[str] = Field(default_factory=lambda: list(_DAYS))
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
    maintainer_ids: list[int] = Field(default_factory=list)
    buttons: bool = True
    link_preview: bool = True

    _token = field_validator("token")(_refuse_placeholder)

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


class ImporterSettings(_Section):
    max_bytes: int = Field(default=2_000_000, ge=1024)
    timeout_seconds: float = Field(default=20.0, gt=0)


class SearchSettings(_Section):
    max_query_chars: int = Field(default=200, ge=1)
    default_limit: int = Field(default=10, ge=1, le=100)


class Settings(BaseSettings):
    """Every setting of digestbot; see config/default.toml for the documented defaults."""

    model_config = SettingsConfigDict(
        env_prefix="DIGESTBOT_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )
    _config_files: ClassVar[tuple[Path, ...]] = ()

    database_url: str = "sqlite:///digestbot.db"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    schedule: ScheduleSettings = Field(default_factory=ScheduleSettings)
    telegram: TelegramSettings = Field(default_factory=TelegramSettings)
    twitter: TwitterSettings = Field(default_factory=TwitterSettings)
    delivery: DeliverySettings = Field(default_factory=DeliverySettings)
    importer: ImporterSettings = Field(default_factory=ImporterSettings)
    search: SearchSettings = Field(default_factory=SearchSettings)

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
        return (init_settings, env_settings, *reversed(files))

    def masked(self) -> dict[str, Any]:
        """The effective settings as plain data, secrets shown as ``**********``."""
        return self.model_dump(mode="json")


class ConfigError(Exception):
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
    loaded = type("LoadedSettings", (Settings,), {"_config_files": tuple(files)})
    try:
        settings: Settings = loaded(**overrides)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc)) from None
    except ValueError as exc:  # malformed TOML, bad env JSON
        raise ConfigError(f"cannot read settings: {exc}") from None
    return settings


def describe_validation_error(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        key = ".".join(str(part) for part in err["loc"]) or "(settings)"
        lines.append(f"invalid setting {key}: {err['msg']}")
    return "\n".join(lines)
