"""Settings from the environment and files: comma lists, secrets kept out of files, unknown
names, masked URLs, the per-user default database."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.config import (
    ConfigError,
    env_warning,
    known_env_names,
    load_settings,
    mask_url,
    unknown_env_names,
)


@pytest.mark.parametrize("value", ["mon,wed", " mon , wed ", '["mon", "wed"]', "Monday,Wednesday"])
def test_days_from_the_environment_as_a_comma_list_or_json(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("DIGESTBOT_SCHEDULE__DAYS", value)
    assert load_settings().schedule.days == ["mon", "wed"]


def test_slots_and_maintainer_ids_as_comma_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGESTBOT_SCHEDULE__SLOTS", "07:30,21:00")
    monkeypatch.setenv("DIGESTBOT_TELEGRAM__MAINTAINER_IDS", "11, 12")
    settings = load_settings()
    assert settings.schedule.slots == ["07:30", "21:00"]
    assert settings.telegram.maintainer_ids == [11, 12]


@pytest.mark.parametrize(
    ("env", "value", "key"),
    [
        ("DIGESTBOT_SCHEDULE__DAYS", "mon,someday", "schedule.days"),
        ("DIGESTBOT_SCHEDULE__DAYS", "[mon", "schedule.days"),
        ("DIGESTBOT_SCHEDULE__SLOTS", "09:00,25:00", "schedule.slots"),
        ("DIGESTBOT_TELEGRAM__MAINTAINER_IDS", "11,me", "telegram.maintainer_ids"),
    ],
)
def test_bad_comma_lists_name_the_key(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str, key: str
) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigError, match=f"invalid setting {key}"):
        load_settings()


def test_toml_lists_are_unchanged(tmp_path: Path) -> None:
    mine = tmp_path / "mine.toml"
    mine.write_text('[schedule]\ndays = ["tue", "fri"]\n[telegram]\nmaintainer_ids = [5]\n')
    settings = load_settings(mine)
    assert settings.schedule.days == ["tue", "fri"]
    assert settings.telegram.maintainer_ids == [5]


@pytest.mark.parametrize(
    ("table", "key", "env"),
    [
        ("telegram", "token", "DIGESTBOT_TELEGRAM__TOKEN"),
        ("twitter", "consumer_key", "DIGESTBOT_TWITTER__CONSUMER_KEY"),
        ("twitter", "access_token_secret", "DIGESTBOT_TWITTER__ACCESS_TOKEN_SECRET"),
    ],
)
def test_a_secret_in_a_toml_file_is_refused(
    tmp_path: Path, table: str, key: str, env: str
) -> None:
    mine = tmp_path / "mine.toml"
    mine.write_text(f'[{table}]\n{key} = "value-of-the-secret"\n')
    with pytest.raises(ConfigError) as err:
        load_settings(mine)
    assert str(err.value) == (
        f"secrets come only from the environment: remove {table}.{key} from {mine} and set {env}"
    )
    assert "value-of-the-secret" not in str(err.value)


def test_non_secret_keys_in_a_file_are_fine(tmp_path: Path) -> None:
    mine = tmp_path / "mine.toml"
    mine.write_text('[twitter]\napi_base_url = "http://127.0.0.1:9"\n')
    assert load_settings(mine).twitter.api_base_url == "http://127.0.0.1:9"


def test_unknown_names_are_found_and_known_ones_are_not() -> None:
    environ = {
        "DIGESTBOT_BOGUS": "1",
        "DIGESTBOT_TELEGRAM__TOKN": "x",
        "DIGESTBOT_CONFIG": "a.toml",
        "DIGESTBOT_TEST_PG": "postgresql://x@h/test",
        "DIGESTBOT_SCHEDULE__DAYS": "mon",
        "digestbot_database_url": "sqlite://",  # names are case-insensitive
        "DIGESTBOT_SEARCH": "{}",  # a whole table as JSON is a pydantic-settings feature
        "PATH": "/bin",
    }
    assert unknown_env_names(environ) == ["DIGESTBOT_BOGUS", "DIGESTBOT_TELEGRAM__TOKN"]
    assert "DIGESTBOT_TWITTER__LINK" in known_env_names()


def test_an_unknown_name_does_not_stop_loading(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGESTBOT_TELEGRAM__TOKN", "123456:" + "A" * 35)
    monkeypatch.setenv("DIGESTBOT_BOGUS", "1")
    assert load_settings().telegram.token is None


def test_warning_suggests_the_nearest_name() -> None:
    assert env_warning("DIGESTBOT_SCHEDULE_DAYS") == (
        "ignoring unknown environment variable DIGESTBOT_SCHEDULE_DAYS "
        "(did you mean DIGESTBOT_SCHEDULE__DAYS?)"
    )
    assert env_warning("DIGESTBOT_BOGUS") == "ignoring unknown environment variable DIGESTBOT_BOGUS"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://user:pw@host/db", "postgresql://user:***@host/db"),
        ("postgresql+psycopg://u:p%40ss@h:5432/db?x=1", "postgresql+psycopg://u:***@h:5432/db?x=1"),
        ("postgresql://user@host/db", "postgresql://user@host/db"),
        ("sqlite:////var/lib/a:b@c.db", "sqlite:////var/lib/a:b@c.db"),
        ("https://api.telegram.org", "https://api.telegram.org"),
    ],
)
def test_mask_url(url: str, shown: str) -> None:
    assert mask_url(url) == shown


def test_masked_settings_hide_url_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGESTBOT_DATABASE_URL", "postgresql://bot:hunter2@db/digest")
    settings = load_settings()
    assert settings.database_url == "postgresql://bot:hunter2@db/digest"  # usable as is
    assert settings.masked()["database_url"] == "postgresql://bot:***@db/digest"


def test_default_database_is_per_user_whatever_the_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = f"sqlite:///{Path(os.environ['XDG_DATA_HOME']) / 'digestbot' / 'digestbot.db'}"
    assert load_settings().database_url == expected
    other = tmp_path / "other"
    other.mkdir()
    monkeypatch.chdir(other)
    assert load_settings().database_url == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("garbage", "is not a database URL"),
        ("mysql://x", "unsupported database 'mysql'"),
        ("postgresql//user@host/db", "is not a database URL"),
    ],
)
def test_database_url_is_checked_when_loading(
    monkeypatch: pytest.MonkeyPatch, value: str, message: str
) -> None:
    monkeypatch.setenv("DIGESTBOT_DATABASE_URL", value)
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert str(err.value).startswith("invalid setting database_url: ")
    assert message in str(err.value)
    assert "Value error" not in str(err.value)


def test_postgres_alias_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGESTBOT_DATABASE_URL", "postgres://u@h/db")
    assert load_settings().database_url == "postgresql://u@h/db"
