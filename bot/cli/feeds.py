"""``digestbot feeds add|list|rm|check``: watch RSS/Atom feeds that carry the digest."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from typing import Any

from rich.table import Table
from rich.text import Text

from bot.cli.common import console, container, plural, print_json
from bot.config import Settings
from bot.services.feeds import FeedCheck, FeedView


def register(sub: Any) -> None:
    feeds = sub.add_parser("feeds", help="watch RSS/Atom feeds for new digests")
    verbs = feeds.add_subparsers(dest="feeds_verb", required=True, metavar="VERB")
    add = verbs.add_parser("add", help="watch a feed (the author's Medium feed, for example)")
    add.add_argument("url", help="the feed's http(s) URL (https://medium.com/feed/@author)")
    add.add_argument(
        "--enqueue",
        action="store_true",
        help="queue the papers and the digest post of every new issue it brings",
    )
    add.set_defaults(handler=add_cmd)
    listing = verbs.add_parser("list", help="the watched feeds and how their last check went")
    listing.set_defaults(handler=list_cmd)
    rm = verbs.add_parser("rm", help="stop watching a feed (its imported issues stay)")
    rm.add_argument("url", help="the feed's URL, as in `digestbot feeds list`")
    rm.set_defaults(handler=rm_cmd)
    check = verbs.add_parser("check", help="fetch every feed now and import its digests")
    check.add_argument("urls", nargs="*", metavar="URL", help="only these feeds (default: all)")
    check.add_argument(
        "--enqueue",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="queue every issue the feed carries, backlog included (--no-enqueue: none; "
        "default: the feed's own setting, which queues new items only)",
    )
    check.add_argument(
        "--force",
        action="store_true",
        help="read the whole feed even when the server says it has not changed",
    )
    check.set_defaults(handler=check_cmd)
    for verb in (add, listing, rm, check):
        verb.add_argument("--json", action="store_true")


def feed_json(feed: FeedView) -> dict[str, Any]:
    data = asdict(feed)
    for hidden in ("etag", "last_modified", "seen"):
        data.pop(hidden, None)
    return data


def check_json(check: FeedCheck) -> dict[str, Any]:
    return {
        "url": check.url,
        "status": check.status,
        "error": check.error,
        "first_check": check.baseline,
        "entries": [asdict(e) for e in check.entries],
        "enqueued": asdict(check.enqueued) if check.enqueued is not None else None,
    }


async def add_cmd(args: argparse.Namespace, settings: Settings) -> int:
    async with container(settings) as app:
        feed, new = await app.feeds.add(args.url, enqueue=args.enqueue)
    if args.json:
        print_json({"feed": feed_json(feed), "new": new})
        return 0
    queued = "new issues are queued" if feed.enqueue else "new issues are imported, not queued"
    verb = "watching" if new else "already watching"
    console.print(
        f"{verb} {feed.url} ({queued}); `digestbot feeds check` fetches it now", markup=False
    )
    return 0


async def list_cmd(args: argparse.Namespace, settings: Settings) -> int:
    async with container(settings) as app:
        feeds = await app.feeds.feeds()
    if args.json:
        print_json({"feeds": [feed_json(f) for f in feeds]})
    elif not feeds:
        console.print("no feeds: `digestbot feeds add URL` watches one")
    else:
        table = Table("feed", "enqueue", "last ok", "state")
        for f in feeds:
            state = (
                Text(f"failing ({f.failures}): {f.last_error}", style="red")
                if f.failures
                else Text("ok" if f.ok_at else "not checked yet")
            )
            last = f.ok_at.strftime("%Y-%m-%d %H:%M") if f.ok_at else "-"
            table.add_row(f.url, "yes" if f.enqueue else "no", last, state)
        console.print(table)
    return 0


async def rm_cmd(args: argparse.Namespace, settings: Settings) -> int:
    async with container(settings) as app:
        await app.feeds.remove(args.url)
    if args.json:
        print_json({"removed": args.url.strip()})
    else:
        console.print(f"stopped watching {args.url.strip()}", markup=False)
    return 0


async def check_cmd(args: argparse.Namespace, settings: Settings) -> int:
    async with container(settings) as app:
        checks = await app.feeds.check(args.urls, enqueue=args.enqueue, force=args.force)
    if args.json:
        print_json({"feeds": [check_json(c) for c in checks]})
    elif not checks:
        console.print("no feeds: `digestbot feeds add URL` watches one")
    else:
        for check in checks:
            print_check(check)
    return 0 if all(c.ok for c in checks) else 1


def print_check(check: FeedCheck) -> None:
    if check.status == "failed":
        console.print(Text(f"{check.url}: failed: {check.error}", style="red"))
        return
    if check.status == "not_modified":
        console.print(
            f"{check.url}: not modified since the last check (--force reads it anyway)",
            markup=False,
        )
        return
    counts = {o: sum(1 for e in check.entries if e.outcome == o) for o in
              ("added", "updated", "unchanged", "skipped")}
    console.print(
        f"{check.url}: " + ", ".join(f"{n} {o}" for o, n in counts.items()), markup=False
    )
    for e in check.entries:
        if e.outcome == "skipped":
            console.print(Text(f"  skipped {e.title or e.link}: {e.reason}", style="yellow"))
        elif e.outcome != "unchanged":
            console.print(f"  {e.outcome} {e.key} ({e.language}) {e.link or ''}", markup=False)
    if check.baseline and check.issues and check.enqueued is None:
        console.print(
            "  first check: these issues are the feed's backlog and are not queued "
            "(`digestbot feeds check --enqueue` queues them); new items will be, if the feed "
            "enqueues",
            markup=False,
        )
    if check.enqueued is not None:
        q = check.enqueued
        console.print(
            f"  queued {plural(len(q.papers), 'paper post')} and "
            f"{plural(len(q.digests), 'digest post')} ({q.already_known} already queued or "
            "posted)",
            markup=False,
        )
