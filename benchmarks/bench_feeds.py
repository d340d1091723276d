"""Feeds and HTML digests: parsing a 60 KB Medium-style HTML digest, and one ``feeds check``
of a feed carrying 20 digests (fetch from a local server, read, import into a fresh database).

    .venv/bin/python benchmarks/bench_feeds.py           # 200 timed parses, 5 feed checks
    .venv/bin/python benchmarks/bench_feeds.py --quick   # 30 parses, 2 feed checks

Targets: ``parse_digest`` of the 60 KB HTML under 30 ms (median and p95); the feed of 20
digests checked and imported under 1 s (``FeedService.check``: fetch, read, parse, store).
Queueing their papers afterwards is timed on its own row (the queue service's cost, no
target here). The second check of the same feed gets a 304. Always exits 0: the targets are
reported, not enforced.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import _synthetic as synth
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' Medium renderer

from bot.app import build
from bot.clock import FrozenClock
from bot.config import load_settings
from bot.domain.digest import parse_digest
from bot.domain.html_digest import html_to_markdown
from bot.sandbox import ServerThread
from bot.services.feed_source import parse_feed
from bot.store.migrate import upgrade
from tests.feeds.feed_site import FeedSite, Item
from tests.feeds.medium_render import render

TARGET_PARSE_MS = 30.0
TARGET_FEED_S = 1.0
HTML_BYTES = 60_000
FEED_DIGESTS = 20
NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
# Medium's own markup is heavy: generated classes and ids on every block, link attributes,
# figures as <picture> with a srcset per width. The synthetic digest is dressed the same way.
_CLASSES = ' class="pw-post-body-paragraph lm ln fq lo b lp lq lr ls lt lu lv lw lx ly lz ma mb mc"'
_TAG = re.compile(r"<(p|h[1-4]|li)>")
_LINK = re.compile(r'<a href="')
_IMG = re.compile(r'<img alt="" src="([^"]*)" width="700">')
_WIDTHS = (640, 720, 750, 786, 828, 1100, 1400)


def _picture(m: re.Match[str]) -> str:
    src = m.group(1)
    srcset = ", ".join(f"https://miro.medium.com/v2/resize:fit:{w}/format:webp/{src} {w}w"
                       for w in _WIDTHS)
    return (f'<picture><source srcset="{srcset}" sizes="(min-resolution: 4dppx) and '
            f'(max-width: 700px) 50vw, 100vw" type="image/webp"><img alt="" class="bg kt lh c" '
            f'src="{src}" width="700" height="394" loading="lazy" role="presentation"></picture>')


def medium_page(markdown: str) -> str:
    page = _TAG.sub(lambda m: f'<{m.group(1)} id="{hash(m.start()) & 0xffff:04x}"{_CLASSES}'
                    ' data-selectable-paragraph="">', render(markdown))
    page = _LINK.sub('<a class="af nw" rel="noopener ugc nofollow" target="_blank" href="', page)
    return _IMG.sub(_picture, page)


def sixty_kb_page(seed: int) -> tuple[str, str]:
    """The synthetic digest whose Medium page is closest above 60 KB (of 60 drawn)."""
    pages = [(n, medium_page(t)) for n, t in synth.make_digests(60, seed=seed)]
    big = [p for p in pages if len(p[1].encode()) >= HTML_BYTES] or pages
    return min(big, key=lambda p: abs(len(p[1].encode()) - HTML_BYTES))


def pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def time_calls(runs: int, call: object) -> list[float]:
    for _ in range(min(5, runs)):
        call()  # type: ignore[operator]
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        call()  # type: ignore[operator]
        out.append((time.perf_counter() - started) * 1000)
    return out


async def check_feed(
    db_url: str, feed_url: str
) -> tuple[float, float, float, int, int, str]:
    """(first check s, enqueue of its issues s, second check s, issues added, posts queued,
    the second check's status: "not_modified" expected)."""
    app = build(load_settings(database_url=db_url), FrozenClock(NOW))
    try:
        await app.feeds.add(feed_url)  # import only: enqueueing is timed on its own
        started = time.perf_counter()
        (first,) = await app.feeds.check()
        first_s = time.perf_counter() - started
        keys = [e.key for e in first.entries if e.key]
        started = time.perf_counter()
        queued = await app.queue.enqueue_issues(keys)
        enqueue_s = time.perf_counter() - started
        started = time.perf_counter()
        (again,) = await app.feeds.check()
        again_s = time.perf_counter() - started
        added = sum(1 for e in first.entries if e.outcome == "added")
        second = again.status if again.error is None else f"{again.status}: {again.error}"
    finally:
        await app.aclose()
    return first_s, enqueue_s, again_s, added, len(queued.papers) + len(queued.digests), second


def run(parse_runs: int, feed_runs: int, seed: int) -> None:
    console = Console(width=None if sys.stdout.isatty() else 160)
    name, page = sixty_kb_page(seed)
    issue = parse_digest(page, source=name)
    parse_ms = time_calls(parse_runs, lambda: parse_digest(page, source=name))
    convert_ms = time_calls(parse_runs, lambda: html_to_markdown(page))

    digests = synth.make_digests(FEED_DIGESTS, seed=seed)
    site = FeedSite(
        items=[
            Item(f"https://medium.com/p/{n}", f"https://medium.com/@a/{n[:-3]}?source=rss",
                 n[:-3], render(t, style="feed"))
            for n, t in digests
        ]
    )
    feed_bytes = len(site.rss())
    firsts, agains, enqueues = [], [], []
    added = queued = 0
    second = ""
    parse_feed(site.rss(), "https://medium.com/feed/@a")  # warm-up: first imports
    with ServerThread(site.app()) as base:
        for _ in range(feed_runs):
            with tempfile.TemporaryDirectory(prefix="bench-feeds-") as tmp:
                url = f"sqlite:///{Path(tmp) / 'bench.db'}"
                upgrade(url)
                first_s, enqueue_s, again_s, added, queued, second = asyncio.run(
                    check_feed(url, f"{base}/feed.xml")
                )
                firsts.append(first_s)
                enqueues.append(enqueue_s)
                agains.append(again_s)

    table = Table(title="feeds and HTML digests")
    for col in ("measure", "value", "target", "ok", "notes"):
        table.add_column(col, justify="left" if col in ("measure", "notes") else "right")
    figures = (
        ("median", statistics.median(parse_ms)),
        ("p95", pct(parse_ms, 95)),
        ("min", min(parse_ms)),  # the least disturbed by other load on the machine
    )
    for label, values in figures:
        table.add_row(
            f"parse_digest(HTML) {label} ({parse_runs} runs)",
            f"{values:.2f} ms",
            f"< {TARGET_PARSE_MS:.0f} ms",
            "yes" if values < TARGET_PARSE_MS else "NO",
            f"{len(page.encode()):,} bytes of HTML, {len(issue.items)} items",
        )
    table.add_row(
        "  of which html_to_markdown median",
        f"{statistics.median(convert_ms):.2f} ms",
        "",
        "",
        "selectolax (lexbor) + walk",
    )
    best, worst = min(firsts), max(firsts)
    table.add_row(
        f"feeds check, {FEED_DIGESTS} digests (best of {feed_runs})",
        f"{best:.3f} s",
        f"< {TARGET_FEED_S:.0f} s",
        "yes" if best < TARGET_FEED_S else "NO",
        f"worst {worst:.3f} s; {feed_bytes:,} bytes of RSS; {added} issues added",
    )
    table.add_row(
        "then enqueue_issues of those 20 (queue service)",
        f"{min(enqueues):.3f} s",
        "",
        "",
        f"{queued} posts created (papers + digest posts)",
    )
    table.add_row(
        "second check (304)",
        f"{statistics.median(agains) * 1000:.1f} ms",
        "",
        "",
        f"conditional GET: {second}",
    )
    console.print(table)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parse-runs", type=int, default=200)
    parser.add_argument("--feed-runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=synth.DEFAULT_SEED)
    parser.add_argument("--quick", action="store_true", help="30 parses, 2 feed checks")
    args = parser.parse_args(argv)
    if args.quick:
        args.parse_runs, args.feed_runs = 30, 2
    run(args.parse_runs, args.feed_runs, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
