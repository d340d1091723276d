"""``issues rm``: items, search rows and orphan papers go, queued posts are cancelled, sent
posts stay; a cancelled digest post never blocks queueing a new one."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from bot.cli import main
from bot.store.migrate import upgrade
from tests.builders import fetch
from tests.conftest import FIXTURES

BILINGUAL = FIXTURES / "bilingual"
EN = str(BILINGUAL / "week50_en.md")
ZH = str(BILINGUAL / "week50_zh.md")
WEEKLY = str(FIXTURES / "digests" / "english_weekly.md")  # 2020-W41
MONTHLY = str(FIXTURES / "digests" / "english_monthly.md")  # 2020-10, shares papers with W41

Cli = Callable[..., tuple[int, str, str]]
Query = Callable[[str], list[tuple[object, ...]]]


@pytest.fixture
def cli(db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    monkeypatch.setenv("DIGESTBOT_DATABASE_URL", db_url)
    monkeypatch.setenv("COLUMNS", "200")

    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def db(db_url: str) -> Query:
    def query(sql: str) -> list[tuple[object, ...]]:
        return fetch(db_url, sql)

    return query


def as_json(cli: Cli, *args: str, code: int = 0) -> dict[str, object]:
    got, out, err = cli(*args, "--json")
    assert got == code, err
    data: dict[str, object] = json.loads(out)
    return data


def rows(data: dict[str, object], key: str) -> list[dict[str, object]]:
    found = data[key]
    assert isinstance(found, list)
    return found


def posts(cli: Cli) -> list[dict[str, object]]:
    return rows(as_json(cli, "queue", "list"), "posts")


def test_rm_needs_a_language_when_there_are_several(cli: Cli) -> None:
    cli("import", EN, ZH)
    code, _, err = cli("issues", "rm", "2020-W50")
    assert code == 2 and "2020-W50 exists in en, zh: add --lang en or --lang zh" in err
    code, _, err = cli("issues", "rm", "2020-W49")
    assert code == 1 and "no issue '2020-W49'" in err
    code, _, err = cli("issues", "rm", "2020-W50", "--lang", "ja")
    assert code == 1 and "it exists in en, zh" in err


def test_rm_one_language_removes_its_items_and_search_rows(
    cli: Cli, db: Query, db_url: str
) -> None:
    if db_url.startswith("sqlite"):  # the FTS5 tables
        short, chinese = "items_short", "items_fts WHERE items_fts MATCH '专家层'"
    else:  # PostgreSQL's search rows (bot/store/search_pg.py)
        short, chinese = "items_short_pg", "items_short_pg WHERE body LIKE '%专家层%'"
    cli("import", EN, ZH)
    before_short = int(str(db(f"SELECT count(*) FROM {short}")[0][0]))
    assert db(f"SELECT count(*) FROM {chinese}")[0][0] == 1
    assert as_json(cli, "search", "专家")["results"]
    removed = as_json(cli, "issues", "rm", "2020-w50", "--lang", "zh")["removed"]
    assert removed == {
        "key": "2020-W50",
        "languages": ["zh"],
        "items": 4,
        "papers": 0,  # the English issue still has every paper of the Chinese one
        "cancelled_posts": 0,
    }
    assert as_json(cli, "search", "专家")["results"] == []
    assert db(f"SELECT count(*) FROM {short}")[0][0] == before_short - 4
    assert db(f"SELECT count(*) FROM {chinese}")[0][0] == 0
    listed = rows(as_json(cli, "issues"), "issues")
    assert [(i["key"], i["language"]) for i in listed] == [("2020-W50", "en")]
    code, out, _ = cli("issues", "rm", "2020-W50")  # one language left: no --lang needed
    assert code == 0 and out.startswith(
        "removed 2020-W50 (en): 3 items, 3 papers nothing else used"
    )
    assert db("SELECT count(*) FROM items") == [(0,)]
    assert db("SELECT count(*) FROM papers") == [(0,)]


def test_papers_of_other_issues_stay(cli: Cli, db: Query) -> None:
    cli("import", WEEKLY, MONTHLY)
    shared = "arxiv:2010.11929"
    assert db(f"SELECT count(*) FROM papers WHERE identity = '{shared}'") == [(1,)]
    cli("issues", "rm", "2020-W41")
    assert db(f"SELECT count(*) FROM papers WHERE identity = '{shared}'") == [(1,)]
    monthly = rows(as_json(cli, "show", "2020-10"), "items")
    assert any(i["paper"] == shared for i in monthly)


def test_rm_cancels_queued_posts_keeps_sent_ones_and_allows_requeueing(cli: Cli, db: Query) -> None:
    cli("import", EN, "--enqueue")
    queued = posts(cli)
    assert len(queued) == 4  # three papers and the digest announcement
    sent = next(p for p in queued if p["paper"] == "arxiv:2012.00001")
    db(f"UPDATE posts SET state = 'sent' WHERE id = {sent['id']}")  # as the dispatcher would
    code, out, _ = cli("issues", "rm", "2020-W50")
    assert code == 0 and "cancelled 3 queued posts" in out
    assert posts(cli) == []
    assert db(f"SELECT state, issue_id, item_id FROM posts WHERE id = {sent['id']}") == [
        ("sent", None, None)
    ]
    # posts (the sent one, the cancelled ones) still refer to the papers: they stay
    assert db("SELECT identity FROM papers ORDER BY identity") == [
        ("arxiv:2012.00001",),
        ("arxiv:2012.00002",),
        ("https://blog.example.org/attention-tour",),
    ]
    code, out, _ = cli("import", EN, "--enqueue")
    assert code == 0 and "queued 2 paper posts and 1 digest post" in out
    again = posts(cli)
    assert sorted(str(p["paper"]) for p in again if p["kind"] == "paper") == [
        "arxiv:2012.00002",
        "https://blog.example.org/attention-tour",
    ]
    assert [p["issue"] for p in again if p["kind"] == "digest"] == ["2020-W50"]


def test_a_cancelled_digest_post_does_not_block_a_new_one(cli: Cli) -> None:
    cli("import", EN, "--enqueue")
    digest = next(p for p in posts(cli) if p["kind"] == "digest")
    assert cli("queue", "rm", str(digest["id"]))[0] == 0
    assert not [p for p in posts(cli) if p["kind"] == "digest"]
    code, out, err = cli("import", EN, "--enqueue")  # unchanged, but queued again
    assert code == 0, err
    assert "and 1 digest post" in out
    assert [p["url"] for p in posts(cli) if p["kind"] == "digest"] == [digest["url"]]


def test_a_sent_announcement_is_not_queued_again_after_rm(cli: Cli, db: Query) -> None:
    cli("import", EN, "--enqueue")
    digest = next(p for p in posts(cli) if p["kind"] == "digest")
    db(f"UPDATE posts SET state = 'sent' WHERE id = {digest['id']}")
    cli("issues", "rm", "2020-W50")
    code, out, _ = cli("import", EN, "--enqueue")
    assert code == 0 and "and 0 digest posts" in out


def test_rm_frees_the_slots_of_cancelled_posts(cli: Cli) -> None:
    cli("import", WEEKLY, "--enqueue")
    first_slots = sorted(str(p["slot"]) for p in posts(cli) if p["kind"] == "paper")
    cli("import", EN, "--enqueue")
    cli("issues", "rm", "2020-W41")
    left = sorted(str(p["slot"]) for p in posts(cli) if p["kind"] == "paper")
    assert left == first_slots[: len(left)]  # the posts left moved up into the freed slots






@pytest.mark.postgres
def test_languages_and_rm_on_postgres(
    pg_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    upgrade(pg_url)
    monkeypatch.setenv("DIGESTBOT_DATABASE_URL", pg_url)

    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    code, out, err = run("import", EN, ZH, "--enqueue")
    assert code == 0, err
    assert "queued 3 paper posts and 1 digest post" in out
    listed = rows(as_json(run, "issues"), "issues")
    assert [i["language"] for i in listed] == ["en", "zh"]
    digest = next(p for p in posts(run) if p["kind"] == "digest")
    assert run("queue", "rm", str(digest["id"]))[0] == 0
    removed = as_json(run, "issues", "rm", "2020-W50", "--lang", "en")["removed"]
    assert removed == {
        "key": "2020-W50",
        "languages": ["en"],
        "items": 3,
        "papers": 0,
        "cancelled_posts": 3,
    }
    code, out, err = run("import", EN, "--enqueue")
    assert code == 0, err
    assert "queued 3 paper posts and 1 digest post" in out
