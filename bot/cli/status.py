"""``digestbot status``: next slots, pauses, X spend, deliveries that need you, last posts."""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from rich.table import Table
from rich.text import Text

from bot.cli.args import positive_int
from bot.cli.common import console, container, print_json
from bot.config import Settings
from bot.services.status import RECENT, NextPost, SentPost, Status, StatusService

TEXT_CHARS = 80


def register(sub: Any) -> None:
    status = sub.add_parser("status", help="next slots, pauses, X spend, problems, last posts")
    status.add_argument(
        "--recent", type=positive_int, default=RECENT, help=f"last posts sent (default {RECENT})"
    )
    status.add_argument("--json", action="store_true")
    status.set_defaults(handler=status_cmd)


async def status_cmd(args: argparse.Namespace, settings: Settings) -> int:
    async with container(settings) as app:
        service = StatusService(app.sessions, settings, app.clock, app.real_clock)
        status = await service.status(recent=args.recent)
    if args.json:
        print_json(status_json(status))
    else:
        print_status(status)
    return 0


def local(moment: datetime | None, tz: ZoneInfo) -> str | None:
    """ISO 8601 in the author's time zone (with its offset), for JSON."""
    return moment.astimezone(tz).isoformat() if moment else None


def shown(moment: datetime | None, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%a %Y-%m-%d %H:%M") if moment else "-"


def short(text: str, limit: int = TEXT_CHARS) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


# --- JSON ----------------------------------------------------------------------------------


def next_json(post: NextPost | None, tz: ZoneInfo) -> dict[str, Any] | None:
    if post is None:
        return None
    return {
        "id": post.id,
        "kind": post.kind,
        "slot": local(post.slot, tz),
        "paper": post.paper,
        "issue": post.issue,
        "text": post.text,
    }


def sent_json(post: SentPost, tz: ZoneInfo) -> dict[str, Any]:
    return {
        "id": post.id,
        "kind": post.kind,
        "paper": post.paper,
        "issue": post.issue,
        "text": post.text,
        "sent_at": local(post.sent_at, tz),
        "deliveries": [
            {
                "destination": d.destination,
                "state": d.state,
                "remote_id": d.remote_id,
                "link": d.link,
                "sent_at": local(d.sent_at, tz),
            }
            for d in post.deliveries
        ],
    }


def status_json(status: Status) -> dict[str, Any]:
    tz = ZoneInfo(status.timezone)
    x = status.x
    return {
        "now": local(status.now, tz),
        "timezone": status.timezone,
        "queue_paused": status.queue_paused,
        "next_paper": next_json(status.next_paper, tz),
        "next_digest": next_json(status.next_digest, tz),
        "destinations": [
            {
                "destination": d.destination,
                "next_paper": next_json(d.next_paper, tz),
                "next_digest": next_json(d.next_digest, tz),
                "waiting": d.waiting,
                "next_due": local(d.next_due, tz),
                "holds": list(d.holds),
            }
            for d in status.destinations
        ],
        "pauses": [
            {"platform": p.platform, "until": local(p.until, tz), "reason": p.reason}
            for p in status.pauses
        ],
        "x": {
            "posts_today": x.posts_today,
            "daily_cap": x.daily_cap,
            "spent_month_usd": round(x.spent_month, 4),
            "monthly_budget_usd": x.monthly_budget,
        },
        "problems": [
            {
                "post": p.post_id,
                "destination": p.destination,
                "state": p.state,
                "reason": p.reason,
                "when": local(p.when, tz),
                "attempts": p.attempts,
            }
            for p in status.problems
        ],
        "problems_total": status.problems_total,
        "recent": [sent_json(p, tz) for p in status.recent],
    }


# --- rich ----------------------------------------------------------------------------------


def _next_cell(post: NextPost | None, tz: ZoneInfo) -> str:
    return f"#{post.id} {post.slot.astimezone(tz):%a %m-%d %H:%M}" if post else "-"


def _next_line(label: str, post: NextPost | None, tz: ZoneInfo) -> Text:
    if post is None:
        return Text(f"{label}: none queued")
    return Text(f"{label}: #{post.id} at {shown(post.slot, tz)} · {short(post.text, 40)}")


def print_status(status: Status) -> None:
    tz = ZoneInfo(status.timezone)
    console.print(Text(f"digestbot status · {shown(status.now, tz)} {status.timezone}"))
    queue = "PAUSED (digestbot queue resume)" if status.queue_paused else "releasing posts"
    console.print(Text(f"queue: {queue}", style="yellow" if status.queue_paused else ""))
    console.print(_next_line("next paper", status.next_paper, tz))
    console.print(_next_line("next digest", status.next_digest, tz))
    if status.destinations:
        table = Table(title="next posts per destination")
        for column in ("destination", "next paper", "next digest"):
            table.add_column(column, no_wrap=True)
        for column in ("waiting", "held by"):
            table.add_column(column, overflow="fold")
        for d in status.destinations:
            waiting = f"{d.waiting} (next {shown(d.next_due, tz)})" if d.waiting else "0"
            table.add_row(
                d.destination,
                _next_cell(d.next_paper, tz),
                _next_cell(d.next_digest, tz),
                waiting,
                Text("\n".join(d.holds) or "-", style="yellow" if d.holds else ""),
            )
        console.print(table)
    else:
        console.print(
            Text(
                "no destination is configured: posts stay queued (set the X credentials or "
                "telegram.token and telegram.channel_id)",
                style="yellow",
            )
        )
    x = status.x
    console.print(
        Text(
            f"X: {x.posts_today}/{x.daily_cap} posts today · ${x.spent_month:.2f} of "
            f"${x.monthly_budget:.2f} this month"
        )
    )
    print_problems(status, tz)
    if status.recent:
        print_history(status.recent, tz, f"last {len(status.recent)} sent, newest first")
    else:
        console.print(Text("nothing sent yet"))


def print_problems(status: Status, tz: ZoneInfo) -> None:
    if not status.problems:
        console.print(Text("no parked, failed or dead deliveries"))
        return
    more = status.problems_total - len(status.problems)
    count = status.problems_total
    title = f"{count} deliveries need you" if count != 1 else "1 delivery needs you"
    title += " (`digestbot queue now ID` resends)"
    table = Table(title=title + (f"; {more} older not shown" if more else ""))
    for column in ("post", "destination", "state", "when", "reason"):
        table.add_column(column, overflow="fold")
    for p in status.problems:
        table.add_row(str(p.post_id), p.destination, p.state, shown(p.when, tz), Text(p.reason))
    console.print(table)


def print_history(posts: list[SentPost], tz: ZoneInfo, title: str) -> None:
    """One block per post: links on lines of their own, so terminals keep them clickable."""
    console.print(Text(title, style="bold"))
    for post in posts:
        what = post.paper or post.issue or ""
        console.print(Text(f"{shown(post.sent_at, tz)}  #{post.id} {post.kind} {what}".rstrip()))
        console.print(Text(f"  {short(post.text)}"))
        for d in post.deliveries:
            where = d.link or d.remote_id or "-"
            state = "" if d.state == "sent" else f" ({d.state})"
            console.print(Text(f"  {d.destination}: {where}{state}"))
