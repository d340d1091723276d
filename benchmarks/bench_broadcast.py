"""Broadcast throughput: one drip post to N subscribers through the ledger, the real PTB adapter
and the fake Bot API enforcing Telegram's limits in real time.

    .venv/bin/python benchmarks/bench_broadcast.py                    # 10,000 subscribers
    .venv/bin/python benchmarks/bench_broadcast.py --subscribers 600  # a quicker look

Three runs, each on a fresh SQLite file: the fake answering at once (limit 30 msg/s), the fake
answering after 50 ms (a real round trip), and paid broadcasts (1,000 msg/s). Printed: messages
a second sustained, its ratio to the limit, and the limit violations the fake saw (429s it
gave). Figures only: the script always exits 0. The pace is ours (kept in the database);
PTB's AIORateLimiter is lifted so that it does not hide what the ledger does.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy import select
from telegram.ext import AIORateLimiter

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.app import build
from bot.clock import FrozenClock
from bot.config import load_settings
from bot.sandbox import (
    FaultInjector,
    FaultKind,
    ServerThread,
    TelegramState,
    make_telegram_app,
)
from bot.store.migrate import upgrade
from bot.store.models import Delivery
from tests.builders import TELEGRAM_TOKEN, add_subscribers, item, store, weekly

FIRST = 1_000_000


def unlimited() -> AIORateLimiter:
    return AIORateLimiter(overall_max_rate=0, group_max_rate=0, max_retries=0)


async def one_run(label: str, n: int, *, latency: float, limit: int) -> None:
    faults = FaultInjector(
        probabilities={FaultKind.SLOW: 1.0} if latency else {},
        random_methods=frozenset({"sendMessage"}),
        slow_delay=latency,
    )
    state = TelegramState(
        chats={"@bench"},
        users=set(range(FIRST, FIRST + n)),
        global_per_second=limit,
        faults=faults,
    )
    with tempfile.TemporaryDirectory() as tmp, ServerThread(make_telegram_app(state)) as url:
        db = f"sqlite:///{Path(tmp) / 'b.db'}"
        upgrade(db)
        settings = load_settings(database_url=db)
        telegram = settings.telegram.model_copy(
            update={
                "token": SecretStr(TELEGRAM_TOKEN),
                "api_base_url": url,
                "messages_per_second": limit,
            }
        )
        settings = settings.model_copy(update={"telegram": telegram})
        past = FrozenClock(datetime(2026, 1, 5, tzinfo=UTC))
        setup = build(settings, past)
        try:
            await store(setup, weekly("2026-W02", [item(1, "Broadcast.", arxiv="2601.00001")]))
            await setup.queue.enqueue_issues(["2026-W02"])
            subscribers = range(FIRST, FIRST + n)
            await add_subscribers(setup, subscribers, past(), receive="drip")
        finally:
            await setup.aclose()
        app = build(settings, telegram_rate_limiter=unlimited)
        try:
            await app.platforms.connect()
            dispatcher = app.dispatcher()
            started = time.perf_counter()
            for _ in range(10_000):
                await dispatcher.tick()
                await asyncio.sleep(0.05)  # the worker's poll, shortened
                async with app.sessions() as session:
                    left = await session.scalar(
                        select(Delivery.id).where(Delivery.state.in_(("pending", "sending")))
                    )
                if left is None:
                    break
            seconds = time.perf_counter() - started
        finally:
            await app.aclose()
    sent = len([m for m in state.sent if m.chat_id >= FIRST])
    refused = len([r for r in state.rejected if r.error_code == 429])
    rate = sent / seconds
    print(
        f"{label:<34} {sent:>6,} sent in {seconds:7.1f} s: {rate:7.1f} msg/s "
        f"({rate / limit:5.1%} of {limit}/s), {refused} limit violations",
        flush=True,
    )


async def run(n: int) -> None:
    await one_run("fake answers at once, 30/s", n, latency=0.0, limit=30)
    await one_run("fake answers after 50 ms, 30/s", n, latency=0.05, limit=30)
    await one_run("paid broadcast, 1000/s", n, latency=0.0, limit=1000)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=10_000)
    args = parser.parse_args(argv)
    asyncio.run(run(args.subscribers))
    return 0


if __name__ == "__main__":
    sys.exit(main())
