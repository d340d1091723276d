"""``digestbot db copy``: a SQLite installation (real imported digests, a queue, ledger rows,
subscribers, audit) moved to PostgreSQL and back; counts equal, search and ``queue list``
answer the same on both; refusals are one line and never show a password."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, insert, select, text

from bot.app import build
from bot.cli import main
from bot.clock import FrozenClock
from bot.config import load_settings
from bot.services import dbcopy
from bot.store.db import sync_url
from bot.store.migrate import upgrade
from bot.store.models import Delivery, Post
from tests.builders import add_subscribers
from tests.conftest import FIXTURES

pytestmark = pytest.mark.postgres

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
DIGESTS = [
    str(p) for p in sorted((FIXTURES / "digests").glob("*.md")) if not p.name.startswith("not_")
] + [str(p) for p in sorted((FIXTURES / "bilingual").glob("*.md"))]
QUERIES = ("transformer", "attention", "模型", "学习", "detr", "former")  # former: inside words


@dataclass
class Cli:
    capsys: pytest.CaptureFixture[str]
    monkeypatch: pytest.MonkeyPatch

    def __call__(self, *args: str, db: str | None = None) -> tuple[int, str, str]:
        if db is not None:
            self.monkeypatch.setenv("DIGESTBOT_DATABASE_URL", db)
        code = main(list(args))
        out, err = self.capsys.readouterr()
        return code, out, err


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    return Cli(capsys, monkeypatch)


@pytest.fixture
def installation(db_url: str, cli: Cli) -> str:
    """A SQLite database as a running installation has it."""
    code, _, err = cli("import", *DIGESTS, "--enqueue", db=db_url)
    assert code == 0, err
    code, _, err = cli("queue", "add", "--url", "https://example.org/x", "--text", "By hand.")
    assert code == 0, err

    async def more() -> None:
        app = build(load_settings(database_url=db_url), FrozenClock(NOW))
        try:
            await add_subscribers(app, range(100, 130), NOW)
            await app.subscribers.subscribe(7, "zh-hans")
            async with app.sessions.begin() as session:
                posts = list(await session.scalars(select(Post.id).order_by(Post.id)))
                rows = [
                    {
                        "post_id": post,
                        "destination": destination,
                        "state": "sent" if n % 2 else "pending",
                        "attempts": n % 3,
                        "due_at": NOW + timedelta(minutes=n),
                        "sent_at": NOW if n % 2 else None,
                        "remote_id": str(10**18 + n) if n % 2 else None,
                        "updated_at": NOW,
                    }
                    for n, post in enumerate(posts[:12])
                    for destination in ("x", "telegram:channel")
                ]
                await session.execute(insert(Delivery), rows)
        finally:
            await app.aclose()

    asyncio.run(more())
    return db_url


def counts(url: str) -> dict[str, int]:
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            return {
                name: int(conn.execute(text(f"SELECT count(*) FROM {name}")).scalar_one())
                for name in dbcopy.table_names()
            }
    finally:
        engine.dispose()


def search_answers(cli: Cli, url: str) -> dict[str, tuple[str, list[str]]]:
    """Per query: the best hit, and every hit found (the order past the first is the ranking's
    business: tests/integration/test_search_parity.py)."""
    out: dict[str, tuple[str, list[str]]] = {}
    for query in QUERIES:
        code, text_out, err = cli("search", query, "--json", db=url)
        assert code == 0, err
        hits = [f"{h['issue']} {h['headline']}" for h in json.loads(text_out)["results"]]
        best = hits[0].split(" ", 1)[1] if hits else ""  # the same digest can be in 2 issues
        out[query] = (best, sorted(hits))
    return out


def queue_list(cli: Cli, url: str) -> object:
    code, out, err = cli("queue", "list", "--all", "--json", db=url)
    assert code == 0, err
    return json.loads(out)


def with_password(url: str) -> str:
    return url.replace("postgresql://postgres@", "postgresql://postgres:hunter2secret@")


def test_copy_to_postgres_keeps_everything(installation: str, pg_url: str, cli: Cli) -> None:
    before = counts(installation)
    assert before["items"] > 20 and before["deliveries"] == 24 and before["subscribers"] == 31
    assert before["posts"] > 10 and before["audit_log"] > 0
    target = with_password(pg_url)  # trust auth ignores it; it must never be shown
    code, out, err = cli("db", "copy", installation, target)
    assert code == 0, err
    assert "hunter2secret" not in out + err
    assert "copied" in out and "counts match" in out
    for name, n in before.items():
        assert name in out
        assert f"{n}" in out
    assert counts(pg_url) == before
    # the same product on both: search (ranked, CJK included) and the queue
    assert search_answers(cli, pg_url) == search_answers(cli, installation)
    assert all(best for best, _ in search_answers(cli, pg_url).values())
    assert queue_list(cli, pg_url) == queue_list(cli, installation)
    # ids continue after the copied ones (PostgreSQL sequences reset)
    code, _, err = cli(
        "queue", "add", "--url", "https://example.org/y", "--text", "After.", db=pg_url
    )
    assert code == 0, err
    assert counts(pg_url)["posts"] == before["posts"] + 1


def test_copy_back_to_sqlite_rebuilds_its_search(
    installation: str, pg_url: str, tmp_path: Path, cli: Cli
) -> None:
    dbcopy.copy_database(installation, pg_url)
    back = f"sqlite:///{tmp_path / 'back.db'}"
    report = dbcopy.copy_database(pg_url, back)  # a missing file is created and migrated
    assert report.ok and counts(back) == counts(installation)
    assert search_answers(cli, back) == search_answers(cli, installation)
    assert queue_list(cli, back) == queue_list(cli, installation)


def test_an_empty_database_copies_both_ways(tmp_path: Path, pg_url: str) -> None:
    """No items: the SQLite target's search rebuild has nothing to insert (it once ran its
    insert without rows and failed the copy, and with it ``--dry-run`` on PostgreSQL)."""
    upgrade(pg_url)
    back = f"sqlite:///{tmp_path / 'empty.db'}"
    assert dbcopy.copy_database(pg_url, back).ok
    assert set(counts(back).values()) == {0}


def test_refuses_a_target_at_another_revision(installation: str, pg_url: str, cli: Cli) -> None:
    upgrade(pg_url, "0008")
    code, out, err = cli("db", "copy", installation, with_password(pg_url))
    assert code == 1
    assert "revision 0008" in err and "digestbot db upgrade" in err
    assert "hunter2secret" not in out + err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_refuses_a_non_empty_target_unless_forced(installation: str, pg_url: str, cli: Cli) -> None:
    assert cli("db", "copy", installation, pg_url)[0] == 0
    code, _, err = cli("db", "copy", installation, pg_url)
    assert code == 1 and "--force" in err and "already holds" in err
    code, out, err = cli("db", "copy", installation, pg_url, "--force", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["ok"] and report["tables"]["items"]["target"] == counts(installation)["items"]
    assert counts(pg_url) == counts(installation)


def test_unreachable_target_is_one_line_without_the_password(installation: str, cli: Cli) -> None:
    target = "postgresql://someone:hunter2secret@127.0.0.1:1/nowhere"
    code, out, err = cli("db", "copy", installation, target)
    assert code == 2
    assert "hunter2secret" not in out + err and "***" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_a_source_behind_the_migrations_is_refused(tmp_path: Path, pg_url: str) -> None:
    old = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(old, "0008")
    with pytest.raises(dbcopy.CopyRefused, match="run `digestbot db upgrade` on it first"):
        dbcopy.copy_database(old, pg_url)
    assert counts_or_none(pg_url) is None  # nothing was created on the target


def counts_or_none(url: str) -> dict[str, int] | None:
    from bot.store.revision import current_revision

    return None if current_revision(url) is None else counts(url)


def test_different_counts_roll_the_copy_back(
    installation: str, pg_url: str, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    rebuild = dbcopy._rebuild_search

    def losing_one(conn: object) -> None:  # a row lost on the way (as a faulty driver might)
        rebuild(conn)  # type: ignore[arg-type]
        conn.execute(text("DELETE FROM subscribers WHERE chat_id = 7"))  # type: ignore[attr-defined]

    monkeypatch.setattr(dbcopy, "_rebuild_search", losing_one)
    code, _, err = cli("db", "copy", installation, pg_url)
    assert code == 1 and "subscribers 31->30" in err and "rolled back" in err
    assert len(err.strip().splitlines()) == 1
    assert set(counts(pg_url).values()) == {0}  # migrated, but nothing kept
