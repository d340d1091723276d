"""``digestbot queue list|history|add|edit|rm|move|top|up|down|shuffle|pause|resume|now|undo|
audit|slots|propose``: argument parsing and printing; the use cases are services."""

from __future__ import annotations

import argparse
from typing import Any
from zoneinfo import ZoneInfo

from rich.table import Table
from rich.text import Text

from bot.app import Container
from bot.cli.args import positive_int, require_post_id
from bot.cli.common import UserError, console, container, print_json, rehearsal
from bot.cli.render import tick_json
from bot.cli.status import print_history, sent_json
from bot.config import Settings
from bot.services.audit import AuditEntry
from bot.services.dispatch import TickReport
from bot.services.queue import QueueError, QueueView, SlotsView
from bot.services.release import ReleaseReport
from bot.services.status import StatusService

PAGE = 20
HISTORY = 20
AUDIT = 20


def register(sub: Any) -> None:
    queue = sub.add_parser("queue", help="see and edit the posting queue")
    verbs = queue.add_subparsers(dest="queue_command", required=True, metavar="VERB")
    shown = []
    for name, help_text in (
        ("list", "upcoming posts with their slots"),
        ("shuffle", "shuffle the order of queued paper posts"),
        ("pause", "stop releasing posts until resume"),
        ("resume", "release posts again"),
    ):
        shown.append(verbs.add_parser(name, help=help_text))
    shown[-1].add_argument(
        "--platform",
        choices=("x", "telegram"),
        help="clear only this platform's pause (a 429 wait, rejected credentials)",
    )
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
    up = verbs.add_parser("up", help="move a paper post one position earlier")
    up.add_argument("id", type=int)
    down = verbs.add_parser("down", help="move a paper post one position later")
    down.add_argument("id", type=int)
    now = verbs.add_parser("now", help="post at once")
    now.add_argument("id", type=int)
    now.add_argument("--dry-run", action="store_true", help="print instead of publishing")
    undo = verbs.add_parser("undo", help="revert the last queue change (see `queue audit`)")
    for p in (*shown, add, edit, rm, move, top, up, down, now, undo):
        p.add_argument(
            "--limit",
            type=positive_int,
            default=PAGE,
            help=f"show the first N open posts (default {PAGE})",
        )
        p.add_argument("--all", action="store_true", help="show every open post")
        p.add_argument("--json", action="store_true")
        p.set_defaults(handler=run_verb)
    history = verbs.add_parser("history", help="posts sent, newest first, with their links")
    history.add_argument(
        "--limit", type=positive_int, default=HISTORY, help=f"at most N posts (default {HISTORY})"
    )
    history.add_argument("--json", action="store_true")
    history.set_defaults(handler=history_cmd)
    audit = verbs.add_parser("audit", help="who changed the queue, what, when (newest first)")
    audit.add_argument(
        "--limit", type=positive_int, default=AUDIT, help=f"at most N entries (default {AUDIT})"
    )
    audit.add_argument("--json", action="store_true")
    audit.set_defaults(handler=audit_cmd)
    slots = verbs.add_parser("slots", help="see or change the posting slots")
    change = slots.add_mutually_exclusive_group()
    change.add_argument(
        "--set",
        metavar="TIMES",
        help="posting times, comma-separated HH:MM in schedule.timezone (e.g. 09:00,18:30)",
    )
    change.add_argument(
        "--reset", action="store_true", help="back to the config's schedule.slots and days"
    )
    slots.add_argument(
        "--days", metavar="DAYS", help="with --set: posting days, e.g. mon,tue,wed,thu,fri"
    )
    slots.add_argument("--json", action="store_true")
    slots.set_defaults(handler=slots_cmd)
    propose = verbs.add_parser(
        "propose", help="propose a comment for a paper (archive headline or arXiv title)"
    )
    propose.add_argument("url")
    propose.add_argument("--json", action="store_true")
    propose.set_defaults(handler=propose_cmd)


async def run_verb(args: argparse.Namespace, settings: Settings) -> int:
    verb = args.queue_command
    if getattr(args, "id", None) is not None:
        require_post_id(args.id)
    with rehearsal(settings, getattr(args, "dry_run", False)) as effective:
        async with container(effective) as app:
            try:
                report = await _apply(app, verb, args)
            except QueueError as exc:
                raise UserError(str(exc)) from None
            view = await app.queue.view(None if args.all else args.limit)
    if args.json:
        data = queue_json(view)
        print_json(data if report is None else {**tick_json(report.tick), "queue": data})
    else:
        if report is not None:
            print_tick(report.tick)
        print_queue(view, settings.schedule.timezone)
    if report is not None and report.failed:
        return 1  # `queue now`: a delivery of that post failed, went dead or was parked
    return 0


async def _apply(app: Container, verb: str, args: argparse.Namespace) -> ReleaseReport | None:
    """Do the verb (as the CLI actor, ``cli:<os user>``); ``now`` returns what its dispatcher
    run did."""
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
    elif verb == "up":
        await q.up(args.id)
    elif verb == "down":
        await q.down(args.id)
    elif verb == "undo":
        result = await q.undo()
        if not args.json:
            console.print(result.message, markup=False)
    elif verb == "shuffle":
        await q.shuffle()
    elif verb == "resume" and args.platform:
        await q.resume_platform(args.platform)
    elif verb in ("pause", "resume"):
        await q.set_paused(verb == "pause")
    elif verb == "now":
        return await app.release.now(args.id, dry_run=args.dry_run)
    return None


def print_tick(report: TickReport) -> None:
    for post_id, destination in report.sent:
        console.print(f"post {post_id} sent to {destination}", markup=False)
    for post_id, destination, reason in report.retrying + report.failed:
        console.print(Text(f"post {post_id} to {destination}: {reason}", style="yellow"))
    for reason in report.waiting:
        console.print(Text(reason, style="yellow"))


async def history_cmd(args: argparse.Namespace, settings: Settings) -> int:
    async with container(settings) as app:
        posts = await StatusService(app.sessions, settings, app.clock).history(args.limit)
    tz = ZoneInfo(settings.schedule.timezone)
    if args.json:
        print_json({"posts": [sent_json(p, tz) for p in posts]})
    elif posts:
        print_history(posts, tz, f"last {len(posts)} sent, newest first")
    else:
        console.print("nothing sent yet", markup=False)
    return 0


def queue_json(view: QueueView) -> dict[str, Any]:
    return {
        "paused": view.paused,
        "total": view.total,
        "sent": view.sent,
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


def _count(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def print_queue(view: QueueView, timezone: str) -> None:
    tz = ZoneInfo(timezone)
    shown = len(view.posts)
    title = (
        _count(view.total, "open post")
        if shown >= view.total
        else f"showing {shown:,} of {view.total:,} open posts"
    ) + (" · PAUSED (digestbot queue resume)" if view.paused else "")
    table = Table(title=title)
    for column in ("id", "kind", "slot", "state", "paper / issue", "text"):
        table.add_column(column, overflow="fold")
    for p in view.posts:
        slot = p.slot.astimezone(tz).strftime("%a %Y-%m-%d %H:%M") if p.slot else "-"
        table.add_row(
            str(p.id), p.kind, slot, p.state, p.paper or p.issue or "", Text(p.text[:140])
        )
    console.print(table)
    if shown < view.total:
        more = view.total - shown
        console.print(f"{more:,} more: --limit N or --all to see them", markup=False)
    sent = "1 post sent so far" if view.sent == 1 else f"{view.sent:,} posts sent so far"
    console.print(f"{sent}; `digestbot queue history` lists them", markup=False)
    c = view.cost
    line = (
        f"expected X spend: ${c.monthly_usd:.2f}/month for {c.drip_posts + c.digest_posts:.0f} "
        f"posts (budget ${c.budget_usd:.2f})"
    )
    console.print(Text(line, style="red" if c.over_budget else ""))


async def audit_cmd(args: argparse.Namespace, settings: Settings) -> int:
    async with container(settings) as app:
        entries = await app.audit.recent(args.limit)
    if args.json:
        print_json({"entries": [audit_json(e) for e in entries]})
    elif entries:
        for found in entries:
            console.print(found.summary(), markup=False)
    else:
        console.print("no queue change recorded yet", markup=False)
    return 0


def audit_json(found: AuditEntry) -> dict[str, Any]:
    return {
        "id": found.id,
        "at": found.at.isoformat(),
        "actor": found.actor,
        "actor_id": found.actor_id,
        "verb": found.verb,
        "post_id": found.post_id,
        "before": found.before,
        "after": found.after,
        "undone": found.undone,
    }


def _split(value: str) -> list[str]:
    return [part for part in (p.strip() for p in value.split(",")) if part]


async def slots_cmd(args: argparse.Namespace, settings: Settings) -> int:
    if args.days is not None and args.set is None:
        raise UserError("--days goes with --set TIMES", code=2)
    async with container(settings) as app:
        if args.set is not None:
            days = _split(args.days) if args.days is not None else None
            view = await app.queue.set_slots(_split(args.set), days)
        elif args.reset:
            view = await app.queue.reset_slots()
        else:
            view = await app.queue.slots()
    if args.json:
        print_json(slots_json(view))
    else:
        print_slots(view)
    return 0


def slots_json(view: SlotsView) -> dict[str, Any]:
    return {
        "times": view.times,
        "days": view.days,
        "timezone": view.timezone,
        "source": "database" if view.overridden else "config",
        "upcoming": [s.isoformat() for s in view.upcoming],
    }


def print_slots(view: SlotsView) -> None:
    source = "set with `queue slots --set`" if view.overridden else "from the config"
    console.print(
        f"posting slots ({source}): {', '.join(view.times)} on {', '.join(view.days)} "
        f"({view.timezone})",
        markup=False,
    )
    tz = ZoneInfo(view.timezone)
    for slot in view.upcoming:
        console.print(f"  {slot.astimezone(tz):%a %Y-%m-%d %H:%M}", markup=False)


async def propose_cmd(args: argparse.Namespace, settings: Settings) -> int:
    async with container(settings) as app:
        proposal = await app.proposals.propose(args.url)
    if args.json:
        print_json(
            {
                "url": proposal.url,
                "paper": proposal.paper,
                "text": proposal.text,
                "source": proposal.source,
                "warnings": proposal.warnings,
                "blocked": proposal.blocked,
            }
        )
        return 0
    for warning in proposal.warnings:
        console.print(Text(f"warning: {warning}", style="yellow"))
    if proposal.text is not None:
        console.print(Text(proposal.text))
        if not proposal.blocked:
            console.print(
                f"queue it: digestbot queue add --url {proposal.url} --text '...'", markup=False
            )
    return 0
