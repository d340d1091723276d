"""Loading digest texts from files, folders and http(s) URLs, bounded in size and in time.

* A file is read only when it is a regular file (a device, FIFO or socket is refused before
  it is opened), and never more than ``max_bytes`` + 1 bytes of it, whatever ``stat`` says.
* A folder is walked for digest files, skipping hidden folders and files, virtual
  environments, ``node_modules``, ``site-packages`` and ``__pycache__``.
* A URL must be http(s); its download has a total deadline, not only a per-read timeout.
* Every bad argument fails alone, with its reason: the others are still imported.
"""

from __future__ import annotations

import asyncio
import os
import re
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

DIGEST_SUFFIXES = (".md", ".txt", ".markdown", ".html", ".htm")
SKIPPED_FOLDERS = frozenset({"node_modules", "site-packages", "__pycache__", "venv", ".venv"})
WEB_SCHEMES = ("http", "https")
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")


@dataclass(frozen=True, slots=True)
class Loaded:
    """One source: its text, or why it could not be read."""

    name: str
    text: str | None = None
    error: str | None = None


def url_scheme(target: str) -> str | None:
    """The lower-case scheme when ``target`` is written as a URL (``ftp://...``), else None."""
    match = _SCHEME.match(target.strip())
    return match.group(1).lower() if match else None


def is_url(target: str) -> bool:
    return url_scheme(target) is not None


def is_web_url(target: str) -> bool:
    return url_scheme(target) in WEB_SCHEMES


def _skipped_folder(path: Path) -> bool:
    name = path.name
    return name.startswith(".") or name in SKIPPED_FOLDERS or (path / "pyvenv.cfg").exists()


def digest_files(folder: Path) -> list[Path]:
    """Digest files under ``folder``, sorted; hidden entries and tool folders are skipped
    (symbolic links to folders are not followed)."""
    found: list[Path] = []
    for root, folders, files in os.walk(folder):
        folders[:] = [f for f in folders if not _skipped_folder(Path(root, f))]
        found.extend(
            Path(root, name)
            for name in files
            if not name.startswith(".") and Path(name).suffix.lower() in DIGEST_SUFFIXES
        )
    return sorted(found)


def expand_targets(targets: Sequence[str]) -> tuple[list[str], list[Loaded]]:
    """(sources to load, in order and without repeats; targets that failed already).

    Files and URLs stay, folders become their digest files; an empty path and a folder
    without digest files fail here."""
    out: list[str] = []
    failed: list[Loaded] = []
    for target in targets:
        if not target.strip():
            failed.append(Loaded(repr(target), error="empty path: give a file, folder or URL"))
        elif not is_url(target) and Path(target).is_dir():
            found = digest_files(Path(target))
            if not found:
                kinds = "/".join(DIGEST_SUFFIXES)
                failed.append(Loaded(target, error=f"{target}: found no digest files ({kinds})"))
            out.extend(str(p) for p in found)
        else:
            out.append(target)
    return list(dict.fromkeys(out)), failed


def decode(raw: bytes, name: str) -> str:
    if b"\x00" in raw[:4096]:
        raise ValueError(f"{name} is a binary file, not a digest")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{name} is not UTF-8 text (byte {exc.start})") from None


def _not_regular(path: Path, mode: int) -> ValueError:
    kind = (
        "a FIFO"
        if stat.S_ISFIFO(mode)
        else "a device"
        if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
        else "a socket"
        if stat.S_ISSOCK(mode)
        else "not a file"
    )
    return ValueError(f"{path}: not a regular file ({kind})")


def read_file(path: Path, max_bytes: int) -> str:
    """The text of a regular file of at most ``max_bytes`` bytes."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file or folder") from None
    if not stat.S_ISREG(info.st_mode):
        raise _not_regular(path, info.st_mode)
    if info.st_size > max_bytes:
        raise ValueError(f"{path} is {info.st_size} bytes, over the {max_bytes}-byte limit")
    # non-blocking open: a file swapped for a FIFO after the check cannot hang the import
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    with os.fdopen(os.open(path, flags), "rb") as handle:
        mode = os.fstat(handle.fileno()).st_mode
        if not stat.S_ISREG(mode):
            raise _not_regular(path, mode)
        raw = handle.read(max_bytes + 1)  # a file that grows is cut off here
    if len(raw) > max_bytes:
        raise ValueError(f"{path} is over the {max_bytes}-byte limit")
    return decode(raw, str(path))


async def _download(client: httpx.AsyncClient, url: str, max_bytes: int) -> str:
    async with client.stream("GET", url, follow_redirects=True) as response:
        if response.status_code != 200:
            raise ValueError(f"{url} answered HTTP {response.status_code}")
        chunks: list[bytes] = []
        total = 0
        async for chunk in response.aiter_bytes():
            total += len(chunk)
            if total > max_bytes:
                raise ValueError(f"{url} is over the {max_bytes}-byte limit")
            chunks.append(chunk)
    return decode(b"".join(chunks), url)


async def fetch_url(
    client: httpx.AsyncClient, url: str, max_bytes: int, deadline_seconds: float
) -> str:
    """The text at ``url``; the whole download (redirects included) gets ``deadline_seconds``."""
    try:
        httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise ValueError(f"{url}: not a valid URL ({exc})") from None
    try:
        async with asyncio.timeout(deadline_seconds):
            return await _download(client, url, max_bytes)
    except TimeoutError:
        raise ValueError(
            f"{url}: no complete answer within {deadline_seconds:g} s (importer.timeout_seconds)"
        ) from None


async def load(
    target: str,
    *,
    client: httpx.AsyncClient | None,
    max_bytes: int,
    deadline_seconds: float = 20.0,
) -> Loaded:
    """Never raises for a bad target: the reason is in ``Loaded.error``."""
    try:
        scheme = url_scheme(target)
        if scheme is None:
            return Loaded(target, await asyncio.to_thread(read_file, Path(target), max_bytes))
        if scheme not in WEB_SCHEMES:
            raise ValueError(f"{target}: only http and https URLs can be imported")
        if client is None:
            raise ValueError(f"{target}: fetching URLs is not available here")
        return Loaded(target, await fetch_url(client, target, max_bytes, deadline_seconds))
    except httpx.HTTPError as exc:
        return Loaded(target, error=f"{target}: {type(exc).__name__}: {exc}".rstrip(": "))
    except (httpx.InvalidURL, httpx.StreamError) as exc:
        return Loaded(target, error=f"{target}: {exc}")
    except (ValueError, OSError) as exc:
        return Loaded(target, error=str(exc) or f"{target}: {type(exc).__name__}")
