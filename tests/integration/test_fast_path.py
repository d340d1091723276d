"""``issues``, ``show`` and ``search`` on SQLite take the fast path (sqlite3, no SQLAlchemy)
and say exactly what the app's path says: same output, same errors, same exit codes."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from bot.app import Container, build
from bot.cli import main
from bot.clock import FrozenClock
from bot.config import load_settings
from bot.store import archive as repo
from bot.store.archive_sqlite import SqliteReads
from bot.store.failures import database_problem
from bot.store.migrate import upgrade
from bot.store.sqlite_conn import connect, sqlite_path, url_password
from tests.builders import item, store, weekly

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
DEMO = Path(__file__).resolve().parents[2] / "bot" / "demo_data"

Cli = Callable[..., tuple[int, str, str]]
#: the fast path reads SQLite files with sqlite3; a PostgreSQL database always takes the app's
FAST_PATH = pytest.mark.sqlite_only("the SQLAlchemy-free fast path reads SQLite files only")

EXTRA = weekly(
    "2021-W02",
    [
        item(1, "Sparse experts route tokens", arxiv="2101.03961", pick=True, summary="路由"),
        item(2, "Pruned heads after training", arxiv="2305.00001", section="papers"),
        item(3, "A blog on transformers", url="https://example.org/t", section="articles"),
    ],
)

SCENARIOS: list[list[str]] = [
    ["issues"],
    ["issues", "--json"],
    ["show", "2024-w12"],
    ["show", "2024-W12", "--json"],
    ["show", "2020-W50", "--lang", "zh", "--json"],
    ["show", "2020-W50"],
    ["show", "2020-W50", "--lang", "ja"],  # exists in other languages only
    ["show", "2099-W01"],  # unknown issue
    ["show", "not a key"],
    ["search", "sparse", "experts"],
    ["search", "sparse", "experts", "--json"],
    ["search", "transformers", "--json"],
    ["search", "剪枝", "--json"],
    ["search", "sparse", "zzzqqq", "--json"],  # no item has both: the any-word fall-back
    ["search", "AND", "OR", "NEAR(", '"x', "*", "--json"],  # FTS syntax is only text
    ["search", "--picks", "--json", "model"],
    ["search", "--section", "papers", "--year", "2021", "--json", "sparse"],
    ["search", "--limit", "2", "--json", "the"],
    ["search", "--limit", "0", "x"],
    ["search", "a" * 300],  # query too long
    ["search", "zzzqqq"],
]


@pytest.fixture
async def cli(
    app: Container,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Cli:
    report = await app.archive.import_targets([str(DEMO), str(FIXTURES / "bilingual")])
    assert report.ok and len(report.added) >= 3
    await store(app, EXTRA)
    monkeypatch.setenv("DIGESTBOT_DATABASE_URL", db_url)
    monkeypatch.setenv("COLUMNS", "200")

    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def app_path(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], None]]:
    """Call it to send the read commands through the app (ArchiveService, the ORM queries)
    instead of the fast path."""

    def through_the_app() -> None:
        monkeypatch.setattr("bot.cli.fast.sqlite_path", lambda _url: None)
        monkeypatch.setattr("bot.store.archive.session_reads", repo.OrmReads)

    yield through_the_app


@FAST_PATH
@pytest.mark.parametrize("argv", SCENARIOS, ids=lambda argv: " ".join(argv)[:40])
def test_the_fast_path_says_what_the_app_says(
    cli: Cli, app_path: Callable[[], None], argv: list[str]
) -> None:
    fast = cli(*argv)
    app_path()
    assert cli(*argv) == fast


@FAST_PATH
def test_settings_from_a_file_and_the_environment_apply_on_the_fast_path(
    cli: Cli, app_path: Callable[[], None], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "digestbot.toml"
    config.write_text("[search]\ndefault_limit = 1\n", encoding="utf-8")
    argv = ["--config", str(config), "search", "sparse", "--json"]
    code, out, err = fast = cli(*argv)
    assert code == 0 and len(json.loads(out)["results"]) == 1, err
    monkeypatch.setenv("DIGESTBOT_SEARCH__MAX_QUERY_CHARS", "3")
    too_long = cli(*argv)
    assert too_long[0] == 1 and "at most 3" in too_long[2]
    app_path()
    assert cli(*argv) == too_long
    monkeypatch.delenv("DIGESTBOT_SEARCH__MAX_QUERY_CHARS")
    assert cli(*argv) == fast


def test_the_scenarios_reach_what_they_claim(cli: Cli) -> None:
    code, out, _ = cli("search", "sparse", "zzzqqq", "--json")
    assert code == 0 and json.loads(out)["relaxed"] is True and json.loads(out)["results"]
    code, _, err = cli("show", "2020-W50", "--lang", "ja")
    assert code == 1 and "it exists in en, zh" in err
    code, _, err = cli("search", "a" * 300)
    assert code == 1 and "query too long" in err
    code, out, _ = cli("search", "AND", "OR", "NEAR(", '"x', "*", "--json")
    assert code == 0 and json.loads(out)["query"] == 'AND OR NEAR( "x *'
    code, out, _ = cli("show", "2024-w12", "--json")
    assert code == 0 and json.loads(out)["key"] == "2024-W12" and json.loads(out)["items"]
    code, out, _ = cli("issues", "--json")
    assert code == 0 and {"2024-W12", "2020-W50", "2021-W02"} <= {
        row["key"] for row in json.loads(out)["issues"]
    }


@pytest.fixture
async def pg_archive(pg_url: str) -> AsyncIterator[str]:
    """The same archive on PostgreSQL (the local service; skipped when absent)."""
    upgrade(pg_url)
    app = build(load_settings(database_url=pg_url), FrozenClock(datetime(2026, 3, 2, tzinfo=UTC)))
    try:
        await app.archive.import_targets([str(DEMO), str(FIXTURES / "bilingual")])
        await store(app, EXTRA)
    finally:
        await app.aclose()
    yield pg_url


@pytest.mark.postgres
@pytest.mark.sqlite_only("compares what SQLite's fast path prints with PostgreSQL's app path")
def test_postgresql_keeps_the_app_path_and_lists_and_shows_alike(
    cli: Cli, pg_archive: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads = [argv for argv in SCENARIOS if argv[0] in ("issues", "show")]
    on_sqlite = [cli(*argv) for argv in reads]
    monkeypatch.setenv("DIGESTBOT_DATABASE_URL", pg_archive)
    assert [cli(*argv) for argv in reads] == on_sqlite


@FAST_PATH
async def test_sqlite_queries_answer_as_the_orm_does(app: Container, db_url: str) -> None:
    await app.archive.import_targets([str(DEMO), str(FIXTURES / "bilingual")])
    await store(app, EXTRA)
    path = sqlite_path(db_url)
    assert path is not None
    conn = connect(path)
    try:
        fast = SqliteReads(conn, {})
        with Session(app.sync_engine) as session:
            orm = repo.OrmReads(session)
            assert fast.issues() == orm.issues() and len(fast.issues()) == 4
            for summary in orm.issues():
                assert fast.languages(summary.key) == orm.languages(summary.key)
                for language in (None, "en", "zh", "ja"):
                    assert fast.issue(summary.key, language) == orm.issue(summary.key, language)
            assert fast.languages("2020-W50") == ["en", "zh"]
            assert fast.issue("2099-W01", None) is None
    finally:
        conn.close()


@pytest.mark.sqlite_only("SQLite file locking (an exclusive rollback-journal writer)")
def test_a_database_locked_during_the_read_is_the_apps_one_line(
    cli: Cli,
    app_path: Callable[[], None],
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Locked after the schema check passed (a writer in rollback-journal mode blocks
    readers): the fast path's raw sqlite3 error gets the app's sentence."""
    original = sqlite_path(db_url)
    assert original is not None
    path = tmp_path / "locked.db"  # a copy no open connection of the test app holds
    source, target = sqlite3.connect(original), sqlite3.connect(path)
    source.backup(target)
    source.close()
    target.close()
    monkeypatch.setenv("DIGESTBOT_DATABASE_URL", f"sqlite:///{path}")
    monkeypatch.setattr("bot.store.db.BUSY_TIMEOUT_MS", 100)
    monkeypatch.setattr("bot.store.sqlite_conn.BUSY_TIMEOUT_MS", 100)
    monkeypatch.setattr("bot.cli.common.require_schema", lambda _url: None)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA journal_mode=DELETE")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        fast = cli("search", "sparse")
        app_path()
        slow = cli("search", "sparse")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert fast[0] == slow[0] == 1
    assert "is locked by another process" in fast[2] and "Traceback" not in fast[2]
    assert fast == slow


def test_raw_sqlite_errors_are_database_problems() -> None:
    locked = database_problem(sqlite3.OperationalError("database is locked"), "x.db")
    assert locked is not None and locked.startswith("the database x.db is locked")
    assert "not a SQLite database" in (
        database_problem(sqlite3.DatabaseError("file is not a database"), "x.db") or ""
    )
    assert database_problem(ValueError("database is locked"), "x.db") is None


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///x.db",
        "sqlite:////tmp/a b.db",
        "sqlite+pysqlite:///rel/x.db?mode=ro",
        "sqlite+aiosqlite:////abs/x.db",
        "sqlite://",
        "sqlite:///",
        "sqlite:///:memory:",
        "sqlite:///%7Efoo.db",
        "postgresql://u:p%40ss@h/db",
        "postgresql+psycopg://u@h:5432/db",
        "postgresql://u:pa:ss@h/db?sslmode=require",
    ],
)
def test_urls_read_as_sqlalchemy_reads_them(url: str) -> None:
    parsed = make_url(url)
    expected = (
        None
        if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:")
        else Path(parsed.database)
    )
    assert sqlite_path(url) == expected
    assert url_password(url) == parsed.password


# --- in a fresh interpreter: what the fast path imports ------------------------------------


def _modules_after(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[str, set[str]]:
    script = (
        "import json, sys\nfrom bot.cli import main\n"
        f"code = main({argv!r})\n"
        "print(json.dumps({'code': code, 'modules': sorted(sys.modules)}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["code"] == 0, done.stderr
    return done.stdout, set(result["modules"])


@pytest.mark.slow
@FAST_PATH
@pytest.mark.parametrize(
    "argv",
    [["search", "sparse", "experts"], ["issues"], ["show", "2024-W12"], ["search", "x", "--json"]],
    ids=" ".join,
)
def test_read_commands_on_sqlite_never_import_sqlalchemy(
    cli: Cli, db_url: str, tmp_path: Path, argv: list[str]
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGESTBOT_")}
    env.update(DIGESTBOT_DATABASE_URL=db_url, XDG_DATA_HOME=str(tmp_path / "data"))
    out, modules = _modules_after(argv, env, tmp_path)
    assert "bot.cli.fast" in modules and "bot.store.archive_sqlite" in modules
    heavy = ("sqlalchemy", "alembic", "aiosqlite", "bot.app", "bot.services.archive", "httpx")
    assert not [m for m in modules if m.split(".")[0] in heavy or m in heavy]
    if argv[0] == "show":
        assert "Sparse mixtures make big models cheap to serve" in out.replace("\n", " ")
