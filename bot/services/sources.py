"""Loading digest texts from files, folders and http(s) URLs, with size caps and clear errors."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

DIGEST_SUFFIXES = (".md", ".txt", ".markdown")


@dataclass(frozen=True, slots=True)
class Loaded:
    """One source: its text, or why it could not be read."""

    name: str
    text: str | None = None
    error: str | None = None


def is_url(target: str) -> bool:
    return target.startswith(("http://", "https://"))


def expand_targets(targets: Sequence[str]) -> list[str]:
    """Files stay, folders become their digest files (sorted), URLs stay; order kept."""
    out: list[str] = []
    for target in targets:
        path = Path(target)
        if not is_url(target) and path.is_dir():
            found = sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in DIGEST_SUFFIXES
            )
            out.extend(str(p) for p in found)
        else:
            out.append(target)
    return list(dict.fromkeys(out))


def decode(raw: bytes, name: str) -> str:
    if b"\x00" in raw[:4096]:
        raise ValueError(f"{name} is a binary file, not a digest")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{name} is not UTF-8 text (byte {exc.start})") from None


def read_file(path: Path, max_bytes: int) -> str:
    if not path.exists():
        raise ValueError(f"{path}: no such file or folder")
    size = path.stat().st_size
    if size > max_bytes:
        raise ValueError(f"{path} is {size} bytes, over the {max_bytes}-byte limit")
    return decode(path.read_bytes(), str(path))


async def fetch_url(client: httpx.AsyncClient, url: str, max_bytes: int) -> str:
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


async def load(target: str, *, client: httpx.AsyncClient | None, max_bytes: int) -> Loaded:
    try:
        if is_url(target):
            if client is None:
                raise ValueError(f"{target}: fetching URLs is not available here")
            return Loaded(target, await fetch_url(client, target, max_bytes))
        return Loaded(target, await asyncio.to_thread(read_file, Path(target), max_bytes))
    except httpx.HTTPError as exc:
        return Loaded(target, error=f"{target}: {type(exc).__name__}: {exc}".rstrip(": "))
    except (ValueError, OSError) as exc:
        return Loaded(target, error=str(exc))
