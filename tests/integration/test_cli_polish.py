"""The command line, in process: where the default database lives, bad database URLs, masked
passwords, warnings about unknown environment variables, messages that name the database."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.cli import main
from tests.builders import execute

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Run:
    monkeypatch.setenv("COLUMNS", "300")

    def call(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return call


@pytest.fixture
def data_home() -> Path:
    """The per-user data folder the autouse fixture points XDG_DATA_HOME at (a tmp folder)."""
    return Path(os.environ["XDG_DATA_HOME"])


@pytest.mark.sqlite_only("the default database is a SQLite file in the user's data folder")
def test_default_database_is_in_the_user_data_folder_not_the_working_folder(
    run: Run, data_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "cron-starts-here"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    expected = data_home / "digestbot" / "digestbot.db"

    code, _, err = run("issues")
    assert code == 1
    assert str(expected) in err and "digestbot db upgrade" in err
    assert not expected.exists()  # a read command never creates an empty database
    assert list(elsewhere.iterdir()) == []

    assert run("db", "upgrade")[0] == 0
    assert stat.S_IMODE(expected.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(expected.stat().st_mode) == 0o600
    assert list(elsewhere.iterdir()) == []

    monkeypatch.chdir(tmp_path)  # another working folder: the same database
    code, out, _ = run("issues", "--json")
    assert code == 0 and json.loads(out) == {"issues": []}
    code, out, _ = run("config", "--json")
    assert json.loads(out)["database_url"] == f"sqlite:///{expected}"


def named(db_url: str) -> str:
    """How the messages must name the database: a SQLite file by its absolute path, a server
    database by its URL (its password masked; these have none)."""
    if db_url.startswith("sqlite:///"):
        return str(Path(db_url.removeprefix("sqlite:///")).resolve())
    assert db_url.startswith("postgresql://") and ":@" not in db_url
    return db_url


def test_the_no_tables_and_old_revision_messages_name_the_database(
    run: Run, blank_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = named(blank_db_url)
    execute(blank_db_url, "SELECT 1")  # the database exists (a SQLite file: an empty one)
    monkeypatch.setenv("DIGESTBOT_DATABASE_URL", blank_db_url)
    code, _, err = run("search", "gan")
    assert code == 1
    assert f"the database {name} has no tables yet" in err
    assert "run `digestbot db upgrade`" in err

    execute(
        blank_db_url,
        "CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)",
        "INSERT INTO alembic_version VALUES ('0000')",
    )
    code, _, err = run("show", "2020-W39")
    assert code == 1
    assert f"the database {name} is at revision 0000" in err


def test_db_upgrade_and_check_name_the_database(
    run: Run, blank_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = named(blank_db_url)
    monkeypatch.setenv("DIGESTBOT_DATABASE_URL", blank_db_url)
    code, out, _ = run("db", "upgrade")
    assert code == 0 and f"database {name} upgraded to" in out
    execute(blank_db_url, "CREATE TABLE stray (id INTEGER PRIMARY KEY)")
    code, _, err = run("db", "check")
    assert code == 1
    assert f"schema drift in {name} (1 difference)" in err


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("garbage", "is not a database URL"),
        ("mysql://x", "unsupported database 'mysql'"),
        ("postgresql://nobody@127.0.0.1:1/x", "cannot open the database postgresql://nobody@"),
        ("sqlite:///{tmp}/notadb.txt", "file is not a database"),
    ],
)
@pytest.mark.parametrize("command", [("issues",), ("search", "gan"), ("db", "upgrade")])
def test_bad_database_urls_are_one_line_and_exit_2(
    run: Run,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    url: str,
    reason: str,
    command: tuple[str, ...],
) -> None:
    (tmp_path / "notadb.txt").write_text("not a database, just text\n")
    monkeypatch.setenv("DIGESTBOT_DATABASE_URL", url.format(tmp=tmp_path))
    code, out, err = run(*command)
    assert code == 2, err
    assert reason in err
    assert "Traceback" not in err + out
    assert len(err.strip().splitlines()) == 1, err
    assert (tmp_path / "notadb.txt").read_text() == "not a database, just text\n"


def test_config_masks_the_database_password_in_text_and_json(
    run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIGESTBOT_DATABASE_URL", "postgresql://bot:s3cr3t-pw@db.example/digest")
    for args in (("config",), ("config", "--json")):
        code, out, _ = run(*args)
        assert code == 0
        assert "s3cr3t-pw" not in out
        assert "postgresql://bot:***@db.example/digest" in out


def test_unknown_environment_variables_warn_once_each_and_are_not_fatal(
    run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIGESTBOT_BOGUS", "1")
    monkeypatch.setenv("DIGESTBOT_TELEGRAM__TOKN", "123456:" + "A" * 35)
    monkeypatch.setenv("DIGESTBOT_CONFIG", "")  # known names are not warned about
    monkeypatch.setenv("DIGESTBOT_TEST_PG", "postgresql://x@127.0.0.1/test")
    code, out, err = run("config", "--json")
    assert code == 0
    assert json.loads(out)["telegram"]["token"] is None  # the typo set nothing
    lines = err.strip().splitlines()
    assert len(lines) == 2, err
    assert "DIGESTBOT_BOGUS" in lines[0]
    assert "DIGESTBOT_TELEGRAM__TOKN" in lines[1]
    assert "did you mean DIGESTBOT_TELEGRAM__TOKEN?" in lines[1]


def test_a_secret_in_the_config_file_is_refused_with_the_reason(
    run: Run, tmp_path: Path
) -> None:
    mine = tmp_path / "mine.toml"
    mine.write_text('[telegram]\ntoken = "123456:' + "B" * 35 + '"\n')
    code, _, err = run("--config", str(mine), "config")
    assert code == 2
    assert (
        f"secrets come only from the environment: remove telegram.token from {mine} and set "
        "DIGESTBOT_TELEGRAM__TOKEN"
    ) in err
    assert "B" * 35 not in err
