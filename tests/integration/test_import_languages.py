"""One digest in two languages: both kept, listed, searchable, shown; queued once."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from bot.cli import main
from bot.store.db import install_sqlite_pragmas, sync_url
from bot.store.migrate import check, upgrade
from tests.conftest import FIXTURES

BILINGUAL = FIXTURES / "bilingual"
EN = str(BILINGUAL / "week50_en.md")
ZH = str(BILINGUAL / "week50_zh.md")
EN_URL = "https://medium.com/@demo-digest/ml-news-week-50-2020-en01"
ZH_URL = "https://medium.com/@demo-digest/ml-news-week-50-2020-zh01"

Cli = Callable[..., tuple[int, str, str]]


@pytest.fixture
def cli(db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    monkeypatch.setenv("DIGESTBOT_DATABASE_URL", db_url)
    monkeypatch.setenv("COLUMNS", "200")

    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def as_json(cli: Cli, *args: str, code: int = 0) -> dict[str, object]:
    got, out, err = cli(*args, "--json")
    assert got == code, err
    data: dict[str, object] = json.loads(out)
    return data


def rows(data: dict[str, object], key: str) -> list[dict[str, object]]:
    found = data[key]
    assert isinstance(found, list)
    return found


def test_both_languages_are_kept_listed_and_searchable(cli: Cli) -> None:
    first = as_json(cli, "import", EN)
    second = as_json(cli, "import", ZH)
    assert first["added"] == second["added"] == ["2020-W50"]
    assert [(i["language"], i["outcome"]) for i in rows(second, "imported")] == [("zh", "added")]
    listed = [(i["key"], i["language"]) for i in rows(as_json(cli, "issues"), "issues")]
    assert listed == [("2020-W50", "en"), ("2020-W50", "zh")]
    code, out, _ = cli("issues")
    assert code == 0 and "zh" in out and "en" in out
    assert rows(as_json(cli, "search", "专家"), "results")[0]["issue"] == "2020-W50"
    english = rows(as_json(cli, "search", "routing"), "results")
    assert english and english[0]["issue"] == "2020-W50"


def test_show_defaults_to_the_language_imported_first_and_names_the_others(cli: Cli) -> None:
    cli("import", ZH, EN)  # one run: the Chinese file comes first
    shown = as_json(cli, "show", "2020-W50")
    assert (shown["language"], shown["url"], shown["languages"]) == ("zh", ZH_URL, ["zh", "en"])
    english = as_json(cli, "show", "2020-w50", "--lang", "en")
    assert (english["language"], english["url"]) == ("en", EN_URL)
    code, out, _ = cli("show", "2020W50")
    assert code == 0
    assert "languages: zh, en (showing zh; --lang en for the other)" in out
    code, _, err = cli("show", "2020-W50", "--lang", "ja")
    assert code == 1 and "it exists in zh, en" in err


@pytest.mark.parametrize("spelling", ["2020-W41", "2020-w41", "2020w41", " 2020-W41 "])
def test_show_accepts_any_spelling_of_a_week(cli: Cli, spelling: str) -> None:
    cli("import", str(FIXTURES / "digests" / "english_weekly.md"))
    assert as_json(cli, "show", spelling)["key"] == "2020-W41"


@pytest.mark.parametrize("spelling", ["2020-10", "2020-9", "2020-09"])
def test_show_accepts_month_spellings(cli: Cli, spelling: str) -> None:
    cli("import", str(FIXTURES / "digests" / "english_monthly.md"))
    code, _, err = cli("show", spelling, "--json")
    if spelling == "2020-10":
        assert code == 0
    else:
        assert code == 1 and "no issue '2020-09'" in err  # normalised, then not found


def test_reimport_is_unchanged_and_an_edit_updates_in_place(cli: Cli, tmp_path: Path) -> None:
    en, zh = tmp_path / "en.md", tmp_path / "zh.md"
    shutil.copy(EN, en)
    shutil.copy(ZH, zh)
    as_json(cli, "import", str(en), str(zh))
    again = as_json(cli, "import", str(zh), str(en))
    assert again["unchanged"] == ["2020-W50", "2020-W50"] and again["added"] == []
    en.write_text(
        en.read_text(encoding="utf-8").replace("little loss in quality", "no visible loss"),
        encoding="utf-8",
    )
    edited = as_json(cli, "import", str(en), str(zh))
    assert sorted((str(i["language"]), str(i["outcome"])) for i in rows(edited, "imported")) == [
        ("en", "updated"),
        ("zh", "unchanged"),
    ]
    assert len(rows(as_json(cli, "issues"), "issues")) == 2
    summaries = [
        i["summary"] for i in rows(as_json(cli, "show", "2020-W50", "--lang", "en"), "items")
    ]
    assert any("no visible loss" in str(s) for s in summaries)


def test_two_texts_of_one_issue_in_one_run_keep_the_first(cli: Cli, tmp_path: Path) -> None:
    first, second = tmp_path / "a" / "week50.md", tmp_path / "b" / "week50.md"
    first.parent.mkdir()
    second.parent.mkdir()
    shutil.copy(EN, first)
    second.write_text(
        Path(EN).read_text(encoding="utf-8").replace("Sparse experts", "Thin experts"),
        encoding="utf-8",
    )
    for _ in range(2):  # the first run adds, the second finds it unchanged: same choice
        data = as_json(cli, "import", str(tmp_path))
        warnings = [w["warning"] for w in rows(data, "warnings")]
        assert warnings == [f"{second} is another en text of 2020-W50: skipped, kept {first}"]
        assert [i["source"] for i in rows(data, "imported")] == [str(first)]
    headlines = [i["headline"] for i in rows(as_json(cli, "show", "2020-W50"), "items")]
    assert "Sparse experts route tokens cheaply" in headlines


def test_same_text_twice_in_one_run_is_unchanged_not_a_warning(cli: Cli, tmp_path: Path) -> None:
    copy = tmp_path / "copy.md"
    shutil.copy(EN, copy)
    data = as_json(cli, "import", EN, str(copy))
    assert data["added"] == ["2020-W50"] and data["unchanged"] == ["2020-W50"]
    assert data["warnings"] == []


@pytest.mark.parametrize(("order", "url"), [((EN, ZH), EN_URL), ((ZH, EN), ZH_URL)])
def test_enqueue_both_languages_queues_each_paper_once_and_one_digest(
    cli: Cli, order: tuple[str, str], url: str
) -> None:
    code, out, err = cli("import", *order, "--enqueue")
    assert code == 0, err
    assert "queued 3 paper posts and 1 digest post" in out
    posts = rows(as_json(cli, "queue", "list"), "posts")
    papers = [p["paper"] for p in posts if p["kind"] == "paper"]
    assert sorted(papers) == [  # type: ignore[type-var]
        "arxiv:2012.00001",
        "arxiv:2012.00002",
        "https://blog.example.org/attention-tour",
    ]
    digests = [p for p in posts if p["kind"] == "digest"]
    assert [(d["url"], d["issue"]) for d in digests] == [(url, "2020-W50")]
    cli("import", *order, "--enqueue")
    assert len(rows(as_json(cli, "queue", "list"), "posts")) == len(posts)


def test_enqueue_of_a_translation_imported_later_adds_no_digest(cli: Cli) -> None:
    cli("import", EN, "--enqueue")
    code, out, _ = cli("import", ZH, "--enqueue")
    assert code == 0 and "queued 0 paper posts and 0 digest posts" in out


def test_upgrade_from_0001_keeps_items_and_detects_languages(blank_db_url: str) -> None:
    url = blank_db_url
    upgrade(url, "0001")
    engine = create_engine(sync_url(url))
    install_sqlite_pragmas(engine)  # foreign keys on, as the program runs
    issue = (
        "INSERT INTO issues (id, key, kind, year, week, title, url, start_date, end_date, picks,"
        " warnings, neighbours, content_hash, imported_at, updated_at) VALUES (:id, :key,"
        " 'weekly', 2020, :week, :title, :url, '2020-12-07', '2020-12-13', '[]', '[]', '[]',"
        " :hash, '2020-12-14 00:00:00', '2020-12-14 00:00:00')"
    )
    item = (
        "INSERT INTO items (id, issue_id, position, section, headline, summary, images, pick)"
        " VALUES (:id, :id, 1, 'papers', :headline, :summary, '[]', FALSE)"
    )
    with engine.begin() as conn:
        conn.execute(
            text(issue),
            [
                {
                    "id": 1,
                    "key": "2020-W50",
                    "week": 50,
                    "title": "2020 年第 50 周",
                    "url": "u1",
                    "hash": "h1",
                },
                {
                    "id": 2,
                    "key": "2020-W51",
                    "week": 51,
                    "title": "Week 51, 2020",
                    "url": "u2",
                    "hash": "h2",
                },
            ],
        )
        conn.execute(
            text(item),
            [
                {"id": 1, "headline": "稀疏专家", "summary": "每个词元只经过两个专家层。"},
                {
                    "id": 2,
                    "headline": "Sparse experts",
                    "summary": "Each token visits two experts.",
                },
            ],
        )
        conn.execute(
            text(
                "INSERT INTO posts (kind, issue_id, text, rank, state, created_at, updated_at)"
                " VALUES ('digest', 1, 't', 0, 'cancelled', '2020-12-14', '2020-12-14')"
            )
        )
    engine.dispose()
    upgrade(url)
    assert check(url).ok
    engine = create_engine(sync_url(url))
    if url.startswith("sqlite"):
        indexed = "SELECT count(*) FROM items_fts WHERE items_fts MATCH '专家层'"
    else:  # PostgreSQL's search rows (bot/store/search_pg.py)
        indexed = "SELECT count(*) FROM items_short_pg WHERE body LIKE '%专家层%'"
    with engine.connect() as conn:
        assert conn.execute(text("SELECT key, language FROM issues ORDER BY id")).all() == [
            ("2020-W50", "zh"),
            ("2020-W51", "en"),
        ]
        assert conn.execute(text("SELECT count(*) FROM items")).scalar() == 2
        assert conn.execute(text("SELECT issue_id FROM posts")).scalar() == 1
        assert conn.execute(text(indexed)).scalar() == 1
    engine.dispose()
