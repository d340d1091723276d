"""Fetching and reading RSS/Atom feeds: the network adapter behind ``FeedService``.

* One GET, conditional when the feed gave validators before (``If-None-Match`` /
  ``If-Modified-Since``); 304 means nothing changed.
* Redirects are followed by hand: at most ``max_redirects``, http(s) only (a ``file://`` or
  ``ftp://`` target is refused), a loop is named as such.
* The body is streamed and the download stops as soon as it passes ``max_bytes``; the whole
  fetch, redirects included, has one deadline.
* feedparser reads the bytes (never a URL or a path): invalid XML, or a document that is not
  RSS or Atom, is a ``FeedError`` with one clear line. Entry HTML is not sanitised here: the
  digest reader (``bot.domain.html_digest``) keeps only text, link targets and image sources
  (never scripts, styles, event handlers or ``javascript:`` links), and nothing stores HTML.
"""

from __future__ import annotations

import asyncio
import io
import xml.sax
from dataclasses import dataclass
from typing import Any, Literal

import feedparser  # type: ignore[import-untyped]
import httpx

from bot.errors import DigestbotError

WEB_SCHEMES = ("http", "https")
REDIRECTS = frozenset({301, 302, 303, 307, 308})


class FeedError(DigestbotError):
    """A feed that cannot be fetched or read; the message says why, in one line."""


@dataclass(frozen=True, slots=True)
class Fetched:
    """The answer to one fetch: new content, or ``not_modified`` (HTTP 304)."""

    status: Literal["ok", "not_modified"]
    url: str  # after redirects
    body: bytes = b""
    content_type: str | None = None
    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True, slots=True)
class FeedEntry:
    id: str
    link: str | None
    title: str
    html: str  # content:encoded / Atom content, else the summary (HTML, not sanitised)
    base: str | None = None  # what its relative links are relative to


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    title: str | None
    entries: list[FeedEntry]


def check_feed_url(url: str) -> str:
    """``url`` stripped, when it is an absolute http(s) URL; FeedError otherwise."""
    url = url.strip()
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise FeedError(f"{url!r} is not a valid URL ({exc})") from None
    if parsed.scheme not in WEB_SCHEMES or not parsed.host:
        raise FeedError(f"{url!r}: a feed must be an http:// or https:// URL")
    return url


async def fetch_feed(
    client: httpx.AsyncClient,
    url: str,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    max_bytes: int,
    max_redirects: int,
    deadline_seconds: float,
) -> Fetched:
    """Fetch ``url`` once; raises FeedError with the reason."""
    try:
        async with asyncio.timeout(deadline_seconds):
            return await _fetch(client, url, etag, last_modified, max_bytes, max_redirects)
    except TimeoutError:
        raise FeedError(
            f"no complete answer within {deadline_seconds:g} s (feeds.timeout_seconds)"
        ) from None
    except httpx.HTTPError as exc:
        raise FeedError(f"{type(exc).__name__}: {exc}".rstrip(": ")) from None


async def _fetch(
    client: httpx.AsyncClient,
    url: str,
    etag: str | None,
    last_modified: str | None,
    max_bytes: int,
    max_redirects: int,
) -> Fetched:
    headers = {"Accept": "application/rss+xml, application/atom+xml, application/xml, */*;q=0.5"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    seen = {url}
    current = httpx.URL(url)
    for _ in range(max_redirects + 1):
        async with client.stream("GET", current, headers=headers, follow_redirects=False) as resp:
            if resp.status_code in REDIRECTS:
                current = _redirect_target(resp, seen)
                continue
            if resp.status_code == 304:
                return Fetched("not_modified", str(current), etag=etag, last_modified=last_modified)
            if resp.status_code != 200:
                raise FeedError(f"the server answered HTTP {resp.status_code}")
            body = await _read_capped(resp, max_bytes)
            return Fetched(
                "ok",
                str(current),
                body,
                resp.headers.get("content-type"),
                resp.headers.get("etag"),
                resp.headers.get("last-modified"),
            )
    raise FeedError(f"more than {max_redirects} redirects (feeds.max_redirects)")


def _redirect_target(resp: httpx.Response, seen: set[str]) -> httpx.URL:
    location = resp.headers.get("location")
    if not location:
        raise FeedError(f"HTTP {resp.status_code} redirect without a Location")
    try:
        target = resp.url.join(location)
    except httpx.InvalidURL as exc:
        raise FeedError(f"redirect to an invalid URL ({exc})") from None
    if target.scheme not in WEB_SCHEMES:
        raise FeedError(f"redirect to a {target.scheme}: URL refused (only http and https)")
    if str(target) in seen:
        raise FeedError(f"redirect loop ({target} again)")
    seen.add(str(target))
    return target


async def _read_capped(resp: httpx.Response, max_bytes: int) -> bytes:
    declared = resp.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise FeedError(f"the feed is {declared} bytes, over the {max_bytes}-byte limit")
    chunks: list[bytes] = []
    total = 0
    async for chunk in resp.aiter_bytes():
        total += len(chunk)
        if total > max_bytes:  # stop downloading at once
            raise FeedError(f"the feed is over the {max_bytes}-byte limit (feeds.max_bytes)")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_feed(body: bytes, url: str, content_type: str | None = None) -> ParsedFeed:
    """The entries of an RSS or Atom document; FeedError when it is neither or is invalid."""
    if b"<!ENTITY" in body[:200_000]:  # no feed needs them; entity expansion bombs do
        raise FeedError("not a valid feed: it declares XML entities (refused)")
    headers = {"content-location": url, "content-type": content_type or "application/xml"}
    # no sanitising or link resolution here (it would cost most of the time): the digest
    # reader keeps only text, links and image sources, and resolves links against <base>
    data: Any = feedparser.parse(
        io.BytesIO(body),
        response_headers=headers,
        sanitize_html=False,
        resolve_relative_uris=False,
    )
    problem = data.get("bozo_exception")
    if isinstance(problem, xml.sax.SAXException):
        where = ""
        if isinstance(problem, xml.sax.SAXParseException):
            where = f" at line {problem.getLineNumber()}, column {problem.getColumnNumber()}"
        raise FeedError(f"not a valid feed: invalid XML{where} ({problem.getMessage()})")
    if not data.get("version"):
        raise FeedError("not an RSS or Atom feed")
    entries = [_entry(e) for e in data.get("entries", [])]
    title = data.get("feed", {}).get("title")
    return ParsedFeed(str(title) if title else None, [e for e in entries if e is not None])


def _entry(raw: Any) -> FeedEntry | None:
    html, base = "", None
    for content in raw.get("content") or []:
        if "html" in str(content.get("type", "")) and content.get("value"):
            html, base = str(content["value"]), content.get("base")
            break
    if not html:
        html = str(raw.get("summary") or "")
        base = (raw.get("summary_detail") or {}).get("base")
    link = raw.get("link")
    title = str(raw.get("title") or "")
    ident = str(raw.get("id") or link or title)
    if not ident:
        return None
    return FeedEntry(ident, str(link) if link else None, title, html, str(base) if base else None)
