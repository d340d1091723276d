"""Import sources: folder walking rules, bounded file reads, URL schemes (no network)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.services.sources import expand_targets, load, read_file, url_scheme


def touch(path: Path, text: str = "# x\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_walk_skips_hidden_folders_and_environments(tmp_path: Path) -> None:
    root = tmp_path / "digests"
    wanted = [touch(root / "a.md"), touch(root / "2020" / "b.txt"), touch(root / "c.markdown")]
    touch(root / "notes.rst")
    touch(root / ".git" / "d.md")
    touch(root / ".cache" / "e.md")
    touch(root / ".hidden.md")
    touch(root / "venv" / "f.md")
    touch(root / ".venv" / "g.md")
    touch(root / "env" / "pyvenv.cfg", "home = /usr/bin\n")
    touch(root / "env" / "lib" / "h.md")
    touch(root / "node_modules" / "pkg" / "README.md")
    touch(root / "lib" / "site-packages" / "pkg" / "README.md")
    touch(root / "__pycache__" / "i.md")
    found, failed = expand_targets([str(root)])
    assert found == sorted(str(p) for p in wanted)
    assert failed == []


def test_an_explicit_hidden_folder_is_still_walked(tmp_path: Path) -> None:
    digest = touch(tmp_path / ".digests" / "a.md")
    assert expand_targets([str(tmp_path / ".digests")]) == ([str(digest)], [])


def test_empty_folder_and_empty_path_fail_with_a_reason(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    touch(empty / ".venv" / "skipped.md")
    found, failed = expand_targets([str(empty), "", "  ", str(tmp_path / "x.md")])
    assert found == [str(tmp_path / "x.md")]
    reasons = [f.error or "" for f in failed]
    assert len(reasons) == 3
    assert "found no digest files" in reasons[0]
    assert all("empty path" in r for r in reasons[1:])


def test_device_is_refused_before_reading() -> None:
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero here")
    with pytest.raises(ValueError, match="not a regular file"):
        read_file(Path("/dev/zero"), 10_000)


def test_fifo_is_refused_without_opening_it(tmp_path: Path) -> None:
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    fifo = tmp_path / "pipe.md"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="not a regular file"):
        read_file(fifo, 10_000)  # opening a FIFO with no writer would block forever


def test_size_cap(tmp_path: Path) -> None:
    big = tmp_path / "big.md"
    big.write_bytes(b"a" * 2049)
    with pytest.raises(ValueError, match="over the 2048-byte limit"):
        read_file(big, 2048)
    assert read_file(big, 2049) == "a" * 2049


@pytest.mark.parametrize(
    ("target", "scheme"),
    [
        ("https://x.org/a.md", "https"),
        ("HTTP://x.org", "http"),
        ("ftp://x.org/a.md", "ftp"),
        ("file:///etc/passwd", "file"),
        ("digests/a.md", None),
        ("/abs/a.md", None),
    ],
)
def test_url_scheme(target: str, scheme: str | None) -> None:
    assert url_scheme(target) == scheme


@pytest.mark.parametrize("target", ["ftp://x.org/a.md", "file:///etc/hostname", "gopher://x.org"])
async def test_other_schemes_are_refused_as_urls(target: str) -> None:
    loaded = await load(target, client=None, max_bytes=10_000)
    assert loaded.text is None
    assert loaded.error == f"{target}: only http and https URLs can be imported"
