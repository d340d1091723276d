"""``digestbot dispatch --once``, ``digestbot run`` and ``digestbot preview``."""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from rich.text import Text

from bot.app import connect_publishers
from bot.cli.args import require_post_id
from bot.cli.common import UserError, console, container, print_json, rehearsal
from bot.cli.render import tick_json
from bot.clock import FrozenClock, system_clock
from bot.config import Settings
from bot.services.dispatch import TickReport


def register(sub: Any) -> None:
    dispatch = sub.add_parser("dispatch", help="send everything due, then exit (cron, ops)")
    dispatch.add_argument("--once", action="store_true", required=True)
    dispatch.add_argument("--now", help="ISO 8601 time to act at (default: now)")
    dispatch.add_argument("--dry-run", action="store_true", help="print instead of publishing")
    dispatch.add_argument("--json", action="store_true")
    dispatch.set_defaults(handler=dispatch_cmd)

    run = sub.add_parser("run", help="the long-running worker (scheduler + Telegram bot)")
    run.add_argument("--dry-run", action="store_true", help="print instead of publishing")
    run.set_defaults(handler=run_cmd)

    preview = sub.add_parser("preview", help="show how a text or a queued post will look")
    which = preview.add_mutually_exclusive_group(required=True)
    which.add_argument("--text")
    which.add_argument("--post", type=int)
    preview.add_argument("--json", action="store_true")
    preview.set_defaults(handler=preview_cmd)


def parse_now(value: str | None, timezone: str = "UTC") -> datetime | None:
    """``--now``: ISO 8601; without a UTC offset it is the author's time (``schedule.timezone``),
    like every slot shown to the user."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise UserError(f"--now {value!r} is not an ISO 8601 time", code=2) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo(timezone))


def print_tick(report: TickReport, problems: list[str]) -> None:
    console.print(
        f"released {len(report.released)}, sent {len(report.sent)}, retrying "
        f"{len(report.retrying)}, failed {len(report.failed)}",
        markup=False,
    )
    for post, dest, reason in report.retrying + report.failed:
        console.print(Text(f"  post {post} to {dest}: {reason}", style="yellow"))
    for reason in report.waiting:
        console.print(Text(f"  {reason}", style="yellow"))
    # ``problems`` (a platform that could not start, a locked database) were logged once
    # already: the exit code says the rest


async def dispatch_cmd(args: argparse.Namespace, settings: Settings) -> int:
    """One tick. A platform that cannot start is one line on stderr and the other goes on;
    the exit code is 1 when anything failed or could not start."""
    moment = parse_now(args.now, settings.schedule.timezone)
    clock = FrozenClock(moment) if moment else system_clock
    with rehearsal(settings, args.dry_run) as effective:
        async with container(effective, clock, real_clock=system_clock) as app:
            problems = await connect_publishers(app, dry_run=args.dry_run)
            report = await app.dispatcher().tick()
    if args.json:
        print_json(tick_json(report, problems))
    else:
        print_tick(report, problems)
    return 1 if report.failed or problems or report.problems else 0


async def run_cmd(args: argparse.Namespace, settings: Settings) -> int:
    from bot.worker import run_worker

    with rehearsal(settings, args.dry_run) as effective:
        await run_worker(effective, dry_run=args.dry_run)
    return 0


async def preview_cmd(args: argparse.Namespace, settings: Settings) -> int:
    from bot.services.preview import Preview, PreviewService

    preview: Preview
    if args.text is not None:
        if not args.text.strip():
            raise UserError("--text is empty: give the text of the post to preview", code=2)
        preview = PreviewService.for_text(settings).text(args.text)
    else:
        require_post_id(args.post)
        async with container(settings) as app:
            preview = await app.preview.post(args.post)
    if args.json:
        print_json(preview.as_json())
        return 0
    if preview.x_text is None:
        console.print(Text(f"X: {preview.x_skipped}", style="bold"))
    else:
        verdict = "valid" if preview.x_valid else "INVALID"
        console.print(Text(f"X ({preview.x_weight}/280, {verdict}):", style="bold"))
        console.print(Text(preview.x_text))
    console.print(Text("Telegram (HTML):", style="bold"))
    console.print(Text(preview.telegram_text))
    return 0
