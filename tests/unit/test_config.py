from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings


def test_defaults_come_from_packaged_toml() -> None:
    settings = load_settings()
    assert settings.database_url.endswith("/data/digestbot/digestbot.db")  # XDG_DATA_HOME
    assert settings.schedule.slots == ["09:00", "13:00", "19:00"]
    assert settings.telegram.token is None


def test_user_file_overrides_defaults_and_env_overrides_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = tmp_path / "mine.toml"
    user.write_text('[schedule]\nslots = ["07:30"]\n[twitter]\ndaily_cap = 3\n')
    assert load_settings(user).twitter.daily_cap == 3
    assert load_settings(user).schedule.weekly_day == "sun"  # deep merge keeps the rest
    monkeypatch.setenv("DIGESTBOT_TWITTER__DAILY_CAP", "7")
    monkeypatch.setenv("DIGESTBOT_CONFIG", str(user))
    settings = load_settings()
    assert settings.twitter.daily_cap == 7
    assert settings.schedule.slots == ["07:30"]


def test_nested_env_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGESTBOT_DATABASE_URL", "sqlite:///x.db")
    monkeypatch.setenv("DIGESTBOT_TELEGRAM__TOKEN", "123456:" + "A" * 35)
    monkeypatch.setenv("DIGESTBOT_TWITTER__API_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("DIGESTBOT_TELEGRAM__MAINTAINER_IDS", "[11, 12]")
    settings = load_settings()
    assert settings.database_url == "sqlite:///x.db"
    assert settings.twitter.api_base_url == "http://127.0.0.1:9"
    assert settings.telegram.maintainer_ids == [11, 12]
    assert settings.telegram.token is not None
    masked = settings.masked()
    assert masked["telegram"]["token"] == "**********"
    assert "A" * 35 not in repr(masked)


@pytest.mark.parametrize(
    ("env", "value", "key"),
    [
        ("DIGESTBOT_TWITTER__DAILY_CAP", "-1", "twitter.daily_cap"),
        ("DIGESTBOT_SCHEDULE__SLOTS", '["25:00"]', "schedule.slots"),
        ("DIGESTBOT_SCHEDULE__TIMEZONE", "Mars/Olympus", "schedule.timezone"),
        ("DIGESTBOT_TWITTER__LINK", "sometimes", "twitter.link"),
        ("DIGESTBOT_TELEGRAM__TOKEN", "changeme", "telegram.token"),
        ("DIGESTBOT_TELEGRAM__CHANNEL_ID", "not a channel", "telegram.channel_id"),
        ("DIGESTBOT_NO_SUCH_SETTING", "1", None),
    ],
)
def test_invalid_settings_fail_fast_naming_the_key(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str, key: str | None
) -> None:
    monkeypatch.setenv(env, value)
    if key is None:  # unknown env names are ignored by pydantic-settings, as documented
        load_settings()
        return
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert f"invalid setting {key}" in str(err.value)


def test_unknown_key_in_user_file_is_refused(tmp_path: Path) -> None:
    user = tmp_path / "bad.toml"
    user.write_text("[twitter]\ndaily_kap = 3\n")
    with pytest.raises(ConfigError, match="twitter.daily_kap"):
        load_settings(user)


def test_missing_or_malformed_user_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "absent.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[schedule\n")
    with pytest.raises(ConfigError, match="cannot read settings"):
        load_settings(broken)
