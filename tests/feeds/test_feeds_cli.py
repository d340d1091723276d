"""``digestbot feeds ...`` and ``digestbot import`` of HTML, in process, against the local site."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.cli import main
from tests.conftest import FIXTURES
from tests.feeds.conftest import note_item, week41, week45_zh
from tests.feeds.feed_site import FeedSite

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def cli(db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Run:
    monkeypatch.setenv("DIGESTBOT_DATABASE_URL", db_url)
    monkeypatch.setenv("COLUMNS", "200")

    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_feeds_add_check_list_rm(cli: Run, base_url: str, site: FeedSite) -> None:
    site.items = [week41(), note_item()]
    url = f"{base_url}/feed.xml"
    code, out, _ = cli("feeds", "list")
    assert code == 0 and "no feeds" in out
    code, out, _ = cli("feeds", "add", url, "--enqueue")
    assert code == 0 and f"watching {url} (new issues are queued)" in out
    code, out, _ = cli("feeds", "check")
    assert code == 0
    assert f"{url}: 1 added, 0 updated, 0 unchanged, 1 skipped" in out
    assert "added 2020-W41 (en)" in out and "skipped A note on holidays: not a digest" in out
    assert "first check: these issues are the feed's backlog and are not queued" in out
    assert "queued" not in out.replace("not queued", "")
    code, out, _ = cli("feeds", "check", "--json")
    data = json.loads(out)
    assert data["feeds"][0]["status"] == "not_modified"
    site.items = [week45_zh(), week41(), note_item()]  # a new digest is published
    code, out, _ = cli("feeds", "check")
    assert code == 0 and f"{url}: 1 added, 0 updated, 1 unchanged, 1 skipped" in out
    assert re.search(r"queued \d+ paper posts and 1 digest post \(0 already", out), out
    code, out, _ = cli("feeds", "list", "--json")
    (feed,) = json.loads(out)["feeds"]
    assert feed["url"] == url and feed["enqueue"] is True and feed["failures"] == 0
    assert "etag" not in feed
    code, out, _ = cli("issues", "--json")
    assert sorted(i["key"] for i in json.loads(out)["issues"]) == ["2020-W41", "2020-W45"]
    code, out, _ = cli("feeds", "rm", url)
    assert code == 0 and "stopped watching" in out
    code, _, err = cli("feeds", "rm", url)
    assert code == 1 and "is not watched" in err and "Traceback" not in err


def test_a_failing_feed_is_one_line_and_exit_1(cli: Run, base_url: str) -> None:
    cli("feeds", "add", f"{base_url}/broken.xml")
    code, out, err = cli("feeds", "check", "--json")
    assert code == 1
    (feed,) = json.loads(out)["feeds"]
    assert feed["status"] == "failed" and "invalid XML" in feed["error"]
    code, out, _ = cli("feeds", "list")
    assert "failing (1)" in out
    code, _, err = cli("feeds", "add", "file:///etc/passwd")
    assert code == 1 and "http:// or https://" in err


def test_import_html_file_folder_and_url(cli: Run, tmp_path: Path, base_url: str) -> None:
    folder = tmp_path / "saved"
    folder.mkdir()
    for name in ("medium_page_en.html", "medium_page_zh.html"):
        shutil.copy(FIXTURES / "html" / name, folder / name)
    code, out, _ = cli("import", str(folder), "--json")
    assert code == 0
    data = json.loads(out)
    assert sorted(data["added"]) == ["2021-W07", "2021-W08"]
    # a Medium URL serving the post's HTML
    code, out, _ = cli("import", f"{base_url}/page.html", "--json")
    assert code == 0 and json.loads(out)["added"] == ["2020-W41"]
