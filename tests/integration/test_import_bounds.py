"""Bounded input through the command line: empty paths, empty folders, devices, FIFOs, slow
servers (a total deadline), bad URLs that fail alone."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bot.cli import main
from tests.conftest import FIXTURES

WEEKLY = FIXTURES / "digests" / "english_weekly.md"
TRICKLE_SECONDS = 0.2  # the slow server sends one byte this often
DEADLINE = "0.6"  # importer.timeout_seconds in these tests

Cli = Callable[..., tuple[int, str, str]]


@pytest.fixture
def cli(db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    monkeypatch.setenv("DIGESTBOT_DATABASE_URL", db_url)
    monkeypatch.setenv("DIGESTBOT_IMPORTER__TIMEOUT_SECONDS", DEADLINE)
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


def failures(data: dict[str, object]) -> dict[str, str]:
    failed = data["failed"]
    assert isinstance(failed, list)
    return {f["source"]: f["reason"] for f in failed}


def test_empty_path_is_refused(cli: Cli) -> None:
    code, out, err = cli("import", "")
    assert code == 2 and out == ""
    assert err.strip() == "error: an empty path cannot be imported: give a file, folder or URL"
    assert cli("import", str(WEEKLY), " ")[0] == 2


def test_empty_folder_says_it_found_no_digests(cli: Cli, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.rst").write_text("not a digest\n", encoding="utf-8")
    code, out, _ = cli("import", str(empty))
    assert code == 1
    assert "found no digest files" in out


def test_folder_import_skips_virtual_environments(cli: Cli, tmp_path: Path) -> None:
    root = tmp_path / "project"
    (root / ".venv" / "lib").mkdir(parents=True)
    (root / ".venv" / "lib" / "LICENSE.md").write_text("# not ours\n", encoding="utf-8")
    (root / "env").mkdir()
    (root / "env" / "pyvenv.cfg").write_text("home = /usr\n", encoding="utf-8")
    (root / "env" / "README.md").write_text("# not ours\n", encoding="utf-8")
    (root / "digests").mkdir()
    (root / "digests" / "w41.md").write_bytes(WEEKLY.read_bytes())
    data = as_json(cli, "import", str(root))
    assert data["added"] == ["2020-W41"] and data["failed"] == []


def test_device_and_fifo_are_refused(cli: Cli, tmp_path: Path) -> None:
    targets = [str(WEEKLY)]
    if Path("/dev/zero").exists():
        targets.append("/dev/zero")
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "pipe.md")
        targets.append(str(tmp_path / "pipe.md"))
    data = as_json(cli, "import", *targets, code=1)
    assert data["added"] == ["2020-W41"]
    reasons = failures(data)
    assert len(reasons) == len(targets) - 1
    assert all("not a regular file" in r for r in reasons.values())


def test_bad_url_fails_alone(cli: Cli) -> None:
    data = as_json(cli, "import", str(WEEKLY), "http://[::1", "ftp://example.org/w.md", code=1)
    assert data["added"] == ["2020-W41"]
    reasons = failures(data)
    assert "not a valid URL" in reasons["http://[::1"]
    assert reasons["ftp://example.org/w.md"] == (
        "ftp://example.org/w.md: only http and https URLs can be imported"
    )


class _Trickle(BaseHTTPRequestHandler):
    stop = threading.Event()

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "1000")
        self.end_headers()
        for _ in range(1000):  # a byte at a time: each read is quick, the whole never ends
            if self.stop.wait(TRICKLE_SECONDS):
                return
            try:
                self.wfile.write(b"#")
                self.wfile.flush()
            except OSError:
                return

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def trickle() -> Iterator[str]:
    _Trickle.stop.clear()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Trickle)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    _Trickle.stop.set()
    server.shutdown()
    server.server_close()


def test_slow_server_hits_the_total_deadline(cli: Cli, trickle: str) -> None:
    data = as_json(cli, "import", f"{trickle}/slow.md", str(WEEKLY), code=1)
    assert data["added"] == ["2020-W41"]
    reason = failures(data)[f"{trickle}/slow.md"]
    assert reason == (
        f"{trickle}/slow.md: no complete answer within {DEADLINE} s (importer.timeout_seconds)"
    )
