"""Fetching and reading feeds against the local feed site: conditional requests, size cap,
redirect limits and schemes, invalid XML; no network."""

from __future__ import annotations

import httpx
import pytest

from bot.domain.digest import parse_digest
from bot.services.feed_source import FeedError, check_feed_url, fetch_feed, parse_feed
from bot.services.feeds import entry_text
from tests.feeds.feed_site import HUGE_BYTES, LAST_MODIFIED, FeedSite

LIMITS = {"max_bytes": 1_000_000, "max_redirects": 5, "deadline_seconds": 10.0}


async def fetch(url: str, **extra: object) -> object:
    async with httpx.AsyncClient() as client:
        return await fetch_feed(client, url, **{**LIMITS, **extra})  # type: ignore[arg-type]


async def test_first_fetch_then_304_with_the_validators(base_url: str, site: FeedSite) -> None:
    first = await fetch(f"{base_url}/feed.xml")
    assert first.status == "ok" and first.etag and first.last_modified == LAST_MODIFIED
    assert b"<rss" in first.body
    second = await fetch(
        f"{base_url}/feed.xml", etag=first.etag, last_modified=first.last_modified
    )
    assert second.status == "not_modified" and second.body == b""
    assert site.requests[-1] == ("/feed.xml", first.etag, LAST_MODIFIED)
    parsed = parse_feed(first.body, first.url, first.content_type)
    assert parsed.title == "Akira on Medium"
    (entry,) = parsed.entries
    assert entry.id == "https://medium.com/p/w41" and entry.title.startswith("Akira's ML news")
    assert "<h1>1. Machine Learning Papers</h1>" in entry.html


async def test_atom_feed(base_url: str) -> None:
    fetched = await fetch(f"{base_url}/atom.xml")
    (entry,) = parse_feed(fetched.body, fetched.url, fetched.content_type).entries
    assert entry.link is not None and "week-41-2020" in entry.link
    assert "Machine Learning Papers" in entry.html


async def test_a_redirect_is_followed_and_reported(base_url: str) -> None:
    fetched = await fetch(f"{base_url}/moved")
    assert fetched.status == "ok" and fetched.url == f"{base_url}/feed.xml"


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/loop-a", "redirect loop"),
        ("/forever/0", "more than 5 redirects"),
        ("/to-ftp", "redirect to a ftp: URL refused"),
        ("/to-file", "redirect to a file: URL refused"),
        ("/nowhere", "HTTP 404"),
        ("/huge-declared.xml", "2000000 bytes, over the 1000000-byte limit"),
    ],
)
async def test_hostile_answers_are_one_clear_error(base_url: str, path: str, message: str) -> None:
    with pytest.raises(FeedError, match=message):
        await fetch(base_url + path)


async def test_a_50_mb_feed_stops_at_the_cap(base_url: str, site: FeedSite) -> None:
    with pytest.raises(FeedError, match="over the 1000000-byte limit"):
        await fetch(f"{base_url}/huge.xml")
    assert site.huge_sent < HUGE_BYTES // 2  # the download was stopped, not read to the end


async def test_a_server_that_stalls_meets_the_deadline(base_url: str) -> None:
    with pytest.raises(FeedError, match=r"no complete answer within 0.3 s"):
        await fetch(f"{base_url}/stall", deadline_seconds=0.3)


async def test_server_error_and_refused_connection(base_url: str, site: FeedSite) -> None:
    site.fail = 503
    with pytest.raises(FeedError, match="HTTP 503"):
        await fetch(f"{base_url}/feed.xml")
    with pytest.raises(FeedError, match="ConnectError"):
        await fetch("http://127.0.0.1:9/feed.xml")


def test_invalid_xml_and_non_feeds() -> None:
    with pytest.raises(FeedError, match=r"invalid XML at line 1, column \d+ \(mismatched tag\)"):
        parse_feed(b'<?xml version="1.0"?><rss version="2.0"><channel><title>x</titel>', "u")
    with pytest.raises(FeedError, match="not an RSS or Atom feed"):
        parse_feed(b"<html><body><p>a web page</p></body></html>", "u", "text/html")
    lol = b"".join(
        b'<!ENTITY l%d "%s">' % (n, b"".join(b"&l%d;" % (n - 1) for _ in range(10)))
        for n in range(1, 9)
    )
    bomb = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY l0 "lol">' + lol + b"]>"
    with pytest.raises(FeedError, match="declares XML entities"):
        parse_feed(bomb + b'<rss version="2.0"><channel><title>&l8;</title></channel></rss>', "u")


def test_scripts_in_items_never_reach_the_issue_and_links_resolve_against_the_feed() -> None:
    body = (
        b'<?xml version="1.0"?><rss version="2.0" '
        b'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><title>t</title>'
        b"<item><title>Week 3, 2021</title><link>https://medium.com/@a/p</link>"
        b"<content:encoded><![CDATA[<script>document.write('<h2>4. Other topics</h2>')</script>"
        b"<h3>1. Papers</h3><h4>An item</h4>"
        b'<p onclick="steal()"><a href="/@b/post?source=rss">Post</a> and '
        b'<a href="javascript:alert(2)">a trap</a><script>alert(1)</script></p>'
        b'<figure><img src="/img/a.png" onerror="alert(3)"></figure>'
        b"<style>p { color: red }</style>]]></content:encoded>"
        b"</item></channel></rss>"
    )
    (entry,) = parse_feed(body, "https://medium.com/feed/@a", "application/rss+xml").entries
    assert entry.base == "https://medium.com/feed/@a"
    issue = parse_digest(entry_text(entry), entry.link)
    assert issue.key == "2021-W03"
    (item,) = issue.items
    assert item.section == "papers" and item.url == "https://medium.com/@b/post"
    assert item.images == ("https://medium.com/img/a.png",)
    assert item.summary == "Post and a trap"
    assert not any(w in repr(issue) for w in ("alert", "steal", "script", "color", "javascript"))


@pytest.mark.parametrize("url", ["ftp://example.org/feed", "file:///etc/passwd", "feed", ""])
def test_feed_urls_must_be_http(url: str) -> None:
    with pytest.raises(FeedError):
        check_feed_url(url)
