"""``digestbot stats [--json] [--png FILE] [--weeks N]``: the same numbers and chart as
Telegram's /stats (bot.services.stats)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bot.cli.args import positive_int
from bot.cli.common import UserError, console, container, print_json
from bot.config import Settings


def register(sub: Any) -> None:
    stats = sub.add_parser(
        "stats", help="subscribers, posts sent, failures, X spend, a 12-week chart"
    )
    stats.add_argument("--json", action="store_true")
    stats.add_argument("--png", metavar="FILE", help="also write the weekly chart to FILE (PNG)")
    stats.add_argument(
        "--weeks", type=positive_int, default=12, help="weeks in the series (default 12, max 104)"
    )
    stats.set_defaults(handler=stats_cmd)


async def stats_cmd(args: argparse.Namespace, settings: Settings) -> int:
    from bot.services.stats import stats_json

    target = _target(args.png) if args.png else None
    async with container(settings) as app:
        service = app.stats
        stats = await service.stats(args.weeks)
        png = await service.png(stats) if target is not None else None
    if target is not None and png is not None:
        _write(target, png)
    if args.json:
        data = stats_json(stats)
        if target is not None:
            data["png"] = str(target)
        print_json(data)
        return 0
    for line in stats.lines():
        console.print(line, markup=False)
    if target is not None:
        console.print(f"chart written to {target}", markup=False)
    return 0


def _target(value: str) -> Path:
    target = Path(value).expanduser()
    if not target.parent.is_dir():
        raise UserError(f"cannot write {target}: the folder {target.parent} does not exist")
    return target


def _write(target: Path, png: bytes) -> None:
    try:
        target.write_bytes(png)
    except OSError as exc:
        raise UserError(f"cannot write {target}: {exc.strerror or exc}") from None
