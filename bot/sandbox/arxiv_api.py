"""A fake arXiv API (``/api/query?id_list=...``, Atom XML) for tests and demos (issue 8).

``ArxivState.mode`` picks the answer: ``ok`` (the paper's entry, or arXiv's error entry for an
unknown id), ``timeout`` (never answers), ``503`` (Service Unavailable with Retry-After),
``malformed`` (broken XML). ``fail_first`` answers 503 to that many requests before ``mode``,
to test retries. Served on 127.0.0.1 only, like the other fakes.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Literal
from xml.sax.saxutils import escape

from aiohttp import web

Mode = Literal["ok", "timeout", "503", "malformed"]
STATE: web.AppKey[ArxivState] = web.AppKey("arxiv_state")


@dataclass(slots=True)
class ArxivState:
    papers: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (title, abstract)
    mode: Mode = "ok"
    fail_first: int = 0
    requests: list[str] = field(default_factory=list)  # the id_list of every request


def _feed(entries: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<feed xmlns="http://www.w3.org/2005/Atom" '
        'xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">'
        "<title>arXiv Query</title>"
        f"{entries}</feed>"
    )


def _entry(arxiv_id: str, title: str, summary: str) -> str:
    return (
        f"<entry><id>http://arxiv.org/abs/{escape(arxiv_id)}v1</id>"
        f"<title>{escape(title)}</title><summary>{escape(summary)}</summary></entry>"
    )


async def query(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    wanted = request.query.get("id_list", "")
    state.requests.append(wanted)
    if state.fail_first > 0:
        state.fail_first -= 1
        return web.Response(status=503, text="busy", headers={"Retry-After": "1"})
    if state.mode == "timeout":
        await asyncio.Event().wait()  # never answers; cancelled when the server stops
    if state.mode == "503":
        return web.Response(status=503, text="busy", headers={"Retry-After": "1"})
    if state.mode == "malformed":
        broken = "<feed><entry><title>unclosed"
        return web.Response(text=broken, content_type="application/atom+xml")
    entries = []
    for arxiv_id in filter(None, wanted.split(",")):
        if arxiv_id in state.papers:
            title, summary = state.papers[arxiv_id]
            entries.append(_entry(arxiv_id, title, summary))
        else:  # what arXiv answers for an unknown id
            entries.append(
                "<entry><id>http://arxiv.org/api/errors#incorrect_id_format_for_"
                f"{escape(arxiv_id)}</id><title>Error</title>"
                f"<summary>incorrect id format for {escape(arxiv_id)}</summary></entry>"
            )
    return web.Response(text=_feed("".join(entries)), content_type="application/atom+xml")


def make_arxiv_app(state: ArxivState) -> web.Application:
    app = web.Application()
    app[STATE] = state
    app.router.add_get("/api/query", query)
    return app
