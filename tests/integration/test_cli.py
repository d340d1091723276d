"""The command line, in process: exit codes, messages, and the documented JSON shapes."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bot.cli import main
from tests.conftest import FIXTURES

DIGESTS = FIXTURES / "digests"


@pytest.fixture
def cli(
    db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[object]:
    monkeypatch.setenv("DIGESTBOT_DATABASE_URL", db_url)
    monkeypatch.setenv("COLUMNS", "200")

    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    yield run


def run_json(cli: object, *args: str, code: int = 0) -> dict[str, object]:
    got, out, err = cli(*args, "--json")  # type: ignore[operator]
    assert got == code, err
    data: dict[str, object] = json.loads(out)
    return data


def test_fresh_database_asks_for_upgrade(
    blank_db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DIGESTBOT_DATABASE_URL", blank_db_url)
    assert main(["issues"]) == 1
    assert "run `digestbot db upgrade`" in capsys.readouterr().err
    assert main(["db", "check"]) == 1
    assert "schema drift" in capsys.readouterr().err
    assert main(["db", "upgrade"]) == 0
    assert main(["db", "check"]) == 0
    assert "agree" in capsys.readouterr().out


def test_import_folder_reports_and_refuses_non_digests(cli: object) -> None:
    code, out, _ = cli("import", str(DIGESTS))  # type: ignore[operator]
    assert code == 1  # one file was not a digest
    assert "added 4" in out and "failed 1" in out
    assert "not_a_digest.md" in out and "not a digest" in out
    assert "no link" in out  # the messy fixture's warnings are shown
    again = run_json(cli, "import", str(DIGESTS), code=1)
    assert len(again["unchanged"]) == 4 and again["added"] == []  # type: ignore[arg-type]
    assert [f["source"].endswith("not_a_digest.md") for f in again["failed"]] == [True]  # type: ignore[union-attr, index]
    listed = run_json(cli, "issues")
    keys = [i["key"] for i in listed["issues"]]  # type: ignore[index, union-attr]
    assert len(keys) == len(set(keys)) == 4
    assert keys == sorted(keys, reverse=True) or keys[0] > keys[-1]


def test_show_json_has_the_documented_shape(cli: object) -> None:
    cli("import", str(DIGESTS / "english_weekly.md"))  # type: ignore[operator]
    data = run_json(cli, "show", "2020-W41")
    assert {
        "key",
        "kind",
        "year",
        "week",
        "month",
        "title",
        "url",
        "picks",
        "warnings",
        "items",
    } <= set(data)
    assert (data["key"], data["kind"], data["year"], data["week"], data["month"]) == (
        "2020-W41",
        "weekly",
        2020,
        41,
        None,
    )
    assert "?source" not in str(data["url"])
    first = data["items"][0]  # type: ignore[index]
    assert set(first) >= {
        "position",
        "section",
        "headline",
        "title",
        "url",
        "paper",
        "summary",
        "pick",
    }
    assert first["position"] == 1 and first["section"] == "papers"
    assert first["url"] == "https://arxiv.org/abs/2010.11929"
    assert first["paper"] == "arxiv:2010.11929"


def test_show_unknown_issue(cli: object) -> None:
    code, _, err = cli("show", "1999-W01")  # type: ignore[operator]
    assert code == 1 and "no issue '1999-W01'" in err


def test_search_json_and_filters(cli: object) -> None:
    cli("import", str(DIGESTS))  # type: ignore[operator]
    data = run_json(cli, "search", "transformer")
    assert data["query"] == "transformer"
    results = data["results"]
    assert results, "the English fixtures mention transformers"
    assert set(results[0]) == {  # type: ignore[index]
        "issue",
        "section",
        "headline",
        "title",
        "url",
        "paper",
        "snippet",
        "pick",
    }
    chinese = run_json(cli, "search", "注意")  # two CJK characters
    assert chinese["results"]
    picks = run_json(cli, "search", "注意", "--picks")
    assert picks["results"]  # non-empty, so the next line proves something
    assert all(r["pick"] for r in picks["results"])  # type: ignore[index, union-attr]
    papers = run_json(cli, "search", "transformer", "--section", "papers", "--limit", "2")
    assert 1 <= len(papers["results"]) <= 2  # type: ignore[arg-type]
    assert all(r["section"] == "papers" for r in papers["results"])  # type: ignore[index, union-attr]


@pytest.mark.parametrize("query", ['"', "AND", "foo(", "need:", "*", "NEAR(", "' OR 1=1 --"])
def test_hostile_queries_through_the_cli(cli: object, query: str) -> None:
    cli("import", str(DIGESTS / "english_weekly.md"))  # type: ignore[operator]
    code, out, err = cli("search", query)  # type: ignore[operator]
    assert code == 0 and "Traceback" not in out + err


def test_too_long_query_and_bad_limit(cli: object) -> None:
    code, _, err = cli("search", "x" * 10_000)  # type: ignore[operator]
    assert code == 1 and "query too long" in err
    code, _, err = cli("search", "x", "--limit", "0")  # type: ignore[operator]
    assert code == 2 and "--limit" in err
    code, out, _ = cli("search", "zzzqqqxxx")  # type: ignore[operator]
    assert code == 0 and "nothing found" in out


class _Digests(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/week41.md":
            body = (DIGESTS / "english_weekly.md").read_bytes()
            self.send_response(200)
        elif self.path == "/huge.md":
            body = b"x" * 3_000_000
            self.send_response(200)
        else:
            body = b"gone"
            self.send_response(404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def web() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Digests)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_import_from_urls(cli: object, web: str) -> None:
    data = run_json(cli, "import", f"{web}/week41.md")
    assert data["added"] == ["2020-W41"]
    code, out, _ = cli("import", f"{web}/missing.md", f"{web}/huge.md")  # type: ignore[operator]
    assert code == 1
    assert "HTTP 404" in out and "limit" in out


def test_import_missing_and_binary_files(cli: object, tmp_path: Path) -> None:
    binary = tmp_path / "x.md"
    binary.write_bytes(b"\x00\x01\x02" * 100)
    code, out, _ = cli("import", str(tmp_path / "absent.md"), str(binary))  # type: ignore[operator]
    assert code == 1 and "no such file" in out and "binary" in out


def test_seeds_import_when_present(cli: object, tmp_path: Path) -> None:
    seeds = FIXTURES.parents[2] / "shared" / "seeds"
    if not seeds.is_dir():
        pytest.skip(f"needs ../shared/seeds beside the checkout ({seeds})")
    copy = tmp_path / "seeds"
    shutil.copytree(seeds, copy)
    data = run_json(cli, "import", str(copy))
    assert sorted(data["added"]) == ["2020-09", "2020-W39", "2020-W50"]  # type: ignore[arg-type]
    w50 = run_json(cli, "show", "2020-W50")
    assert len(w50["picks"]) == 3  # type: ignore[arg-type]
    assert sum(1 for i in w50["items"] if i["pick"]) == 3  # type: ignore[union-attr, index]


def test_config_masks_secrets(cli: object, monkeypatch: pytest.MonkeyPatch) -> None:
    token = "123456:" + "S" * 35
    monkeypatch.setenv("DIGESTBOT_TELEGRAM__TOKEN", token)
    code, out, _ = cli("config", "--json")  # type: ignore[operator]
    assert code == 0 and token not in out
    assert json.loads(out)["telegram"]["token"] == "**********"


def test_invalid_setting_names_the_key(cli: object, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGESTBOT_SCHEDULE__SLOTS", '["9am"]')
    code, _, err = cli("issues")  # type: ignore[operator]
    assert code == 2 and "schedule.slots" in err


def test_queue_verbs_and_json(cli: object) -> None:
    cli("import", str(DIGESTS / "english_weekly.md"), "--enqueue")  # type: ignore[operator]
    data = run_json(cli, "queue", "list")
    assert data["paused"] is False
    posts = data["posts"]
    assert posts and {"id", "kind", "paper", "text", "slot", "state"} <= set(posts[0])  # type: ignore[index]
    assert {p["kind"] for p in posts} == {"paper", "digest"}  # type: ignore[union-attr]
    assert "expected_usd_per_month" in data["cost"]  # type: ignore[operator]
    paper = next(p for p in posts if p["kind"] == "paper")  # type: ignore[union-attr]
    last = len([p for p in posts if p["kind"] == "paper"])  # type: ignore[union-attr]
    moved = run_json(cli, "queue", "move", str(paper["id"]), str(last))
    papers = [p for p in moved["posts"] if p["kind"] == "paper"]  # type: ignore[union-attr]
    assert papers[-1]["id"] == paper["id"]
    code, _, err = cli("queue", "move", str(paper["id"]), "999")  # type: ignore[operator]
    assert code == 1 and "out of range" in err
    code, _, err = cli("queue", "rm", "4242")  # type: ignore[operator]
    assert code == 1 and "no post with id 4242" in err
    code, _, err = cli("queue", "edit", str(paper["id"]), "--text", "字" * 200)  # type: ignore[operator]
    assert code == 1 and "weighted characters" in err
    assert run_json(cli, "queue", "pause")["paused"] is True
    assert run_json(cli, "queue", "resume")["paused"] is False
    added = run_json(
        cli,
        "queue",
        "add",
        "--url",
        "https://arxiv.org/abs/2401.00001",
        "--text",
        "A hand-written <comment> & more.",
    )
    assert any(p["paper"] == "arxiv:2401.00001" for p in added["posts"])  # type: ignore[union-attr]


def test_preview_json(cli: object) -> None:
    data = run_json(cli, "preview", "--text", "<b>bold</b> & 漢字 https://example.org/x")
    x, tg = data["x"], data["telegram"]
    assert x["text"] == "<b>bold</b> & 漢字 https://example.org/x"  # type: ignore[index]
    assert x["weighted_length"] == 14 + 4 + 1 + 23 and x["valid"] is True  # type: ignore[index]
    assert tg["parse_mode"] == "HTML"  # type: ignore[index]
    assert "&lt;b&gt;bold&lt;/b&gt; &amp;" in tg["text"]  # type: ignore[index]
    too_long = run_json(cli, "preview", "--text", "字" * 141)
    assert too_long["x"]["weighted_length"] == 282 and too_long["x"]["valid"] is False  # type: ignore[index]


def test_preview_post(cli: object) -> None:
    cli("import", str(DIGESTS / "english_weekly.md"), "--enqueue")  # type: ignore[operator]
    post = run_json(cli, "queue", "list")["posts"][0]  # type: ignore[index]
    data = run_json(cli, "preview", "--post", str(post["id"]))
    assert data["x"]["valid"] is True and data["x"]["weighted_length"] <= 280  # type: ignore[index]
    code, _, err = cli("preview", "--post", "9999")  # type: ignore[operator]
    assert code == 1 and "no post" in err


def test_dispatch_dry_run_rehearses_without_touching_the_queue(cli: object) -> None:
    cli("import", str(DIGESTS / "english_weekly.md"), "--enqueue")  # type: ignore[operator]
    before = run_json(cli, "queue", "list")
    slot = before["posts"][0]["slot"]  # type: ignore[index]
    data = run_json(cli, "dispatch", "--once", "--dry-run", "--now", str(slot))
    assert len(data["sent"]) == 2  # type: ignore[arg-type]
    assert run_json(cli, "queue", "list") == before  # the real database is unchanged
    again = run_json(cli, "dispatch", "--once", "--dry-run", "--now", str(slot))
    assert again["sent"] == data["sent"]
    code, _, err = cli("dispatch", "--once", "--now", "yesterday")  # type: ignore[operator]
    assert code == 2 and "ISO 8601" in err
