"""``digestbot queue list|add|edit|rm|move|top|shuffle|pause|resume|now``."""

from __future__ import annotations

import argparse
from typing import Any
from zoneinfo import ZoneInfo

from rich.table import Table
from rich.text import Text

from bot.app import Container, connect_publishers
from bot.cli.common import UserError, console, container, print_json, rehearsal
from bot.config import Settings
from bot.services.queue import QueueError, QueueView


def register(sub: Any) -> None:
    queue = sub.add_parser("queue", help="see and edit the posting queue")
    verbs = queue.add_subparsers(dest="queue_command", required=True, metavar="VERB")
    for name, help_text in (
        ("list", "upcoming posts with their slots"),
        ("shuffle", "shuffle the order of queued paper posts"),
        ("pause", "stop releasing posts until resume"),
        ("resume", "release posts again"),
    ):
        p = verbs.add_parser(name, help=help_text)
        p.add_argument("--json", action="store_true")
        p.set_defaults(handler=run_verb)
    add = verbs.add_parser("add", help="queue a post by hand")
    add.add_argument("--url", required=True)
    add.add_argument("--text", required=True)
    edit = verbs.add_parser("edit", help="change a queued post's text")
    edit.add_argument("id", type=int)
    edit.add_argument("--text", required=True)
    rm = verbs.add_parser("rm", help="remove a queued post")
    rm.add_argument("id", type=int)
    move = verbs.add_parser("move", help="move a paper post to a position (1 = next)")
    move.add_argument("id", type=int)
    move.add_argument("position", type=int)
    top = verbs.add_parser("top", help="make a paper post the next one")
    top.add_argument("id", type=int)
    now = verbs.add_parser("now", help="post at once")
    now.add_argument("id", type=int)
    now.add_argument("--dry-run", action="store_true", help="print instead of publishing")
    for p in (add, edit, rm, move, top, now):
        p.add_argument("--json", action="store_true")
        p.set_defaults(handler=run_verb)


async def run_verb(args: argparse.Namespace, settings: Settings) -> int:
    verb = args.queue_command
    with rehearsal(settings, getattr(args, "dry_run", False)) as effective:
        async with container(effective) as app:
            try:
                await _apply(app, verb, args)
            except QueueError as exc:
                raise UserError(str(exc)) from None
            view = await app.queue.view()
    if args.json:
        print_json(queue_json(view))
    else:
        print_queue(view, settings.schedule.timezone)
    return 0


async def _apply(app: Container, verb: str, args: argparse.Namespace) -> None:
    q = app.queue
    if verb == "add":
        post_id = await q.add(args.url, args.text)
        if not args.json:
            console.print(f"queued post {post_id}")
    elif verb == "edit":
        await q.edit(args.id, args.text)
    elif verb == "rm":
        await q.remove(args.id)
    elif verb == "move":
        await q.move(args.id, args.position)
    elif verb == "top":
        await q.top(args.id)
    elif verb == "shuffle":
        await q.shuffle()
    elif verb in ("pause", "resume"):
        await q.set_paused(verb == "pause")
    elif verb == "now":
        await q.make_due(args.id)
        await connect_publishers(app, dry_run=args.dry_run)
        report = await app.dispatcher().tick()
        if args.json:
            return
        for post_id, destination in report.sent:
            console.print(f"post {post_id} sent to {destination}")
        for post_id, destination, reason in report.retrying + report.failed:
            console.print(Text(f"post {post_id} to {destination}: {reason}", style="yellow"))
        for reason in report.waiting:
            console.print(Text(reason, style="yellow"))


def queue_json(view: QueueView) -> dict[str, Any]:
    return {
        "paused": view.paused,
        "posts": [
            {
                "id": p.id,
                "kind": p.kind,
                "paper": p.paper,
                "issue": p.issue,
                "text": p.text,
                "url": p.url,
                "slot": p.slot.isoformat() if p.slot else None,
                "state": p.state,
                "deliveries": {d: s for d, s in p.deliveries},
            }
            for p in view.posts
        ],
        "cost": {
            "x_posts_per_month": view.cost.drip_posts + view.cost.digest_posts,
            "expected_usd_per_month": view.cost.monthly_usd,
            "budget_usd_per_month": view.cost.budget_usd,
        },
    }


def print_queue(view: QueueView, timezone: str) -> None:
    tz = ZoneInfo(timezone)
    title = f"{len(view.posts)} posts" + (
        " · PAUSED (digestbot queue resume)" if view.paused else ""
    )
    table = Table(title=title)
    for column in ("id", "kind", "slot", "state", "paper / issue", "text"):
        table.add_column(column, overflow="fold")
    for p in view.posts:
        slot = p.slot.astimezone(tz).strftime("%a %Y-%m-%d %H:%M") if p.slot else "-"
        table.add_row(
            str(p.id), p.kind, slot, p.state, p.paper or p.issue or "", Text(p.text[:140])
        )
    console.print(table)
    c = view.cost
    line = (
        f"expected X spend: ${c.monthly_usd:.2f}/month for {c.drip_posts + c.digest_posts:.0f} "
        f"posts (budget ${c.budget_usd:.2f})"
    )
    console.print(Text(line, style="red" if c.over_budget else ""))
