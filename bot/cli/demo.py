"""``digestbot demo``: a self-contained tour on a temporary database (never the user's).

It imports the bundled sample digest, shows the archive and two searches, queues the drip,
then publishes a simulated week through the real X and Telegram clients to the strict fake
servers of ``bot.sandbox`` on 127.0.0.1. No accounts, no network.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from bot.app import Container, connect_publishers
from bot.cli import render
from bot.cli.archive import print_report, print_search
from bot.cli.common import console, container, plural
from bot.cli.queue import print_queue
from bot.clock import FrozenClock, system_clock
from bot.config import Settings
from bot.sandbox import TelegramState, XState, make_telegram_app, make_x_app, running
from bot.store import migrate

SAMPLES = Path(__file__).resolve().parent.parent / "demo_data"
DEMO_QUERIES = ("sparse experts", "小波")
DEMO_TOKEN = "123456789:DEMOsandboxTokenNotARealOne_000000"
DEMO_X = ("demo-consumer-key", "demo-consumer-secret", "1-demo-access-token", "demo-secret")


def register(sub: Any) -> None:
    demo = sub.add_parser("demo", help="a tour on a temporary database with fake X/Telegram")
    demo.set_defaults(handler=run_demo, needs_db=False)


def demo_settings(settings: Settings, url: str, telegram: str, x: str) -> Settings:
    key, secret, token, token_secret = DEMO_X
    tg = settings.telegram.model_copy(
        update={
            "token": SecretStr(DEMO_TOKEN),
            "api_base_url": telegram,
            "channel_id": "@digestbot_demo",
            "maintainer_ids": [],
        }
    )
    tw = settings.twitter.model_copy(
        update={
            "api_base_url": x,
            "consumer_key": SecretStr(key),
            "consumer_secret": SecretStr(secret),
            "access_token": SecretStr(token),
            "access_token_secret": SecretStr(token_secret),
        }
    )
    return settings.model_copy(update={"database_url": url, "telegram": tg, "twitter": tw})


async def run_demo(args: argparse.Namespace, settings: Settings) -> int:
    clock = FrozenClock(system_clock())
    tg_state = TelegramState(
        clock=lambda: clock().timestamp(),
        wall_clock=lambda: clock().timestamp(),
        chats={"@digestbot_demo"},
    )
    x_state = XState(
        clock=lambda: clock().timestamp(),
        consumer_key=DEMO_X[0],
        consumer_secret=DEMO_X[1],
        access_token=DEMO_X[2],
        access_token_secret=DEMO_X[3],
    )
    with tempfile.TemporaryDirectory(prefix="digestbot-demo-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'demo.db'}"
        console.print(Rule("digestbot demo (temporary database, your own data is untouched)"))
        await asyncio.to_thread(migrate.upgrade, url)
        async with (
            running(make_telegram_app(tg_state)) as tg_url,
            running(make_x_app(x_state)) as x_url,
            container(demo_settings(settings, url, tg_url, x_url), clock) as app,
        ):
            ok = await _archive_tour(app)
            await _drip_tour(app, clock, tg_state, x_state)
    return 0 if ok else 1


async def _archive_tour(app: Container) -> bool:
    samples = sorted(str(p) for p in SAMPLES.glob("*.md"))
    report = await app.archive.import_targets(samples)
    print_report(report)
    console.print(render.issues_table(await app.archive.issues()))
    for key in report.added:
        console.print(render.issue_table(await app.archive.issue(key)))
    found_all = True
    for query in DEMO_QUERIES:
        result = await app.archive.search(query)
        print_search(result)
        found_all &= bool(result.hits)
    queued = await app.queue.enqueue_issues(report.added)
    console.print(
        Rule(
            f"the drip: {plural(len(queued.papers), 'paper')} and "
            f"{plural(len(queued.digests), 'digest')} queued"
        )
    )
    print_queue(await app.queue.view(), app.settings.schedule.timezone)
    return report.ok and found_all


async def _drip_tour(app: Container, clock: FrozenClock, tg: TelegramState, x: XState) -> None:
    await connect_publishers(app)
    dispatcher = app.dispatcher()
    console.print(Rule("a simulated week, published to the local fake X and Telegram servers"))
    start = clock()
    table = Table(title="what the fake servers received")
    for column in ("when (author's time)", "X", "Telegram channel"):
        table.add_column(column, overflow="fold")
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(app.settings.schedule.timezone)
    for step in range(8 * 24 * 4):  # every 15 minutes for eight days
        clock.set(start + timedelta(minutes=15 * step))
        before_x, before_tg = len(x.posts), len(tg.sent)
        await dispatcher.tick()
        for post, message in zip(x.posts[before_x:], tg.sent[before_tg:], strict=False):
            when = clock().astimezone(tz).strftime("%a %m-%d %H:%M")
            table.add_row(when, Text(post.text), Text(message.visible_text))
    console.print(table)
    console.print(
        f"X posts: {len(x.posts)}, Telegram messages: {len(tg.sent)}, "
        f"requests the strict fakes rejected: {len(tg.rejected) + len(x.rejected)}",
        markup=False,
    )
