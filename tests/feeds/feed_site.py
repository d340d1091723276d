"""A local feed site on 127.0.0.1 for the feed tests (aiohttp in a thread): RSS and Atom feeds
with ETag / Last-Modified and 304s, and hostile answers (invalid XML, a 50 MB body, redirect
loops, redirects to file:// and ftp://, server errors)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

from aiohttp import web

LAST_MODIFIED = "Mon, 01 Mar 2021 10:00:00 GMT"
HUGE_BYTES = 50 * 1024 * 1024


@dataclass
class Item:
    guid: str
    link: str
    title: str
    html: str


@dataclass
class FeedSite:
    """What the site serves; tests change ``items`` and ``fail`` between checks."""

    items: list[Item] = field(default_factory=list)
    fail: int | None = None  # answer /feed.xml with this HTTP status
    requests: list[tuple[str, str | None, str | None]] = field(default_factory=list)
    huge_sent: int = 0

    def rss(self) -> bytes:
        entries = "".join(
            f"<item><title>{escape(i.title)}</title><link>{escape(i.link)}</link>"
            f'<guid isPermaLink="false">{escape(i.guid)}</guid>'
            f"<content:encoded><![CDATA[{i.html}]]></content:encoded></item>"
            for i in self.items
        )
        return (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">'
            f"<channel><title>Akira on Medium</title><link>https://medium.com/@akira</link>"
            f"{entries}</channel></rss>"
        ).encode()

    def atom(self) -> bytes:
        entries = "".join(
            f"<entry><title>{escape(i.title)}</title><link href=\"{escape(i.link)}\"/>"
            f"<id>{escape(i.guid)}</id><updated>2021-03-01T10:00:00Z</updated>"
            f'<content type="html">{escape(i.html)}</content></entry>'
            for i in self.items
        )
        return (
            '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
            "<title>Akira (Atom)</title><id>urn:akira</id><updated>2021-03-01T10:00:00Z</updated>"
            f"{entries}</feed>"
        ).encode()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/feed.xml", self._feed)
        app.router.add_get("/atom.xml", self._atom)
        app.router.add_get("/broken.xml", self._broken)
        app.router.add_get("/page.html", self._page)
        app.router.add_get("/huge.xml", self._huge)
        app.router.add_get("/huge-declared.xml", self._huge_declared)
        app.router.add_get("/loop-a", self._redirect("/loop-b"))
        app.router.add_get("/loop-b", self._redirect("/loop-a"))
        app.router.add_get("/forever/{n}", self._forever)
        app.router.add_get("/to-ftp", self._redirect("ftp://127.0.0.1/feed.xml"))
        app.router.add_get("/to-file", self._redirect("file:///etc/passwd"))
        app.router.add_get("/moved", self._redirect("/feed.xml"))
        app.router.add_get("/stall", self._stall)
        return app

    def _conditional(self, request: web.Request, body: bytes, kind: str) -> web.Response:
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        match = request.headers.get("If-None-Match")
        self.requests.append((request.path, match, request.headers.get("If-Modified-Since")))
        if self.fail is not None:
            return web.Response(status=self.fail, text="down for maintenance")
        if match == etag:
            return web.Response(status=304, headers={"ETag": etag})
        headers = {"ETag": etag, "Last-Modified": LAST_MODIFIED}
        return web.Response(body=body, content_type=kind, headers=headers)

    async def _feed(self, request: web.Request) -> web.Response:
        return self._conditional(request, self.rss(), "application/rss+xml")

    async def _atom(self, request: web.Request) -> web.Response:
        return self._conditional(request, self.atom(), "application/atom+xml")

    async def _broken(self, request: web.Request) -> web.Response:
        body = b'<?xml version="1.0"?><rss version="2.0"><channel><item><title>x</titel>'
        return web.Response(body=body, content_type="application/rss+xml")

    async def _page(self, request: web.Request) -> web.Response:
        html = self.items[0].html if self.items else "<p>empty</p>"
        return web.Response(text=f"<!DOCTYPE html><html><body>{html}</body></html>",
                            content_type="text/html")

    async def _huge(self, request: web.Request) -> web.StreamResponse:
        """50 MB of a feed, chunked, without a Content-Length: the client must stop reading."""
        response = web.StreamResponse(headers={"Content-Type": "application/rss+xml"})
        await response.prepare(request)
        chunk = b"<item><title>" + b"x" * 65_000 + b"</title></item>"
        try:
            await response.write(b'<?xml version="1.0"?><rss version="2.0"><channel>')
            while self.huge_sent < HUGE_BYTES:
                await response.write(chunk)
                self.huge_sent += len(chunk)
        except (ConnectionResetError, RuntimeError):
            return response
        return response

    async def _huge_declared(self, request: web.Request) -> web.Response:
        """2 MB with its Content-Length: refused before the body is read."""
        return web.Response(body=b"x" * 2_000_000, content_type="application/rss+xml")

    async def _stall(self, request: web.Request) -> web.StreamResponse:
        """Headers, a first byte, then nothing more (until the client gives up)."""
        response = web.StreamResponse(headers={"Content-Type": "application/rss+xml"})
        await response.prepare(request)
        await response.write(b"<")
        with contextlib.suppress(asyncio.CancelledError, ConnectionResetError):
            await asyncio.wait_for(asyncio.Event().wait(), timeout=5)
        return response

    @staticmethod
    def _redirect(location: str):  # type: ignore[no-untyped-def]
        async def handler(request: web.Request) -> web.Response:
            return web.Response(status=302, headers={"Location": location})

        return handler

    async def _forever(self, request: web.Request) -> web.Response:
        n = int(request.match_info["n"]) + 1
        return web.Response(status=301, headers={"Location": f"/forever/{n}"})
