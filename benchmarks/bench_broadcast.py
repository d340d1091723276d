"""Broadcast throughput: one drip post to N subscribers through the ledger, the real PTB adapter
and the fake Bot API enforcing Telegram's limits in real time.

    .venv/bin/python benchmarks/bench_broadcast.py                    # 10,000 subscribers
    .venv/bin/python benchmarks/bench_broadcast.py --subscribers 600  # a quicker look
    .venv/bin/python benchmarks/bench_broadcast.py --only paid        # one run (see --help)

Runs, each on a fresh SQLite file: the fake answering at once (limit 30 msg/s), the fake
answering after 50 ms (a real round trip), paid broadcasts (``allow_paid_broadcast``, 1,000
msg/s) through PTB to the fake in a process of its own (it is another machine in real life;
in this process the two would share one interpreter lock); with ``--only``, also the paid run
with the fake in this process (``paid-inprocess``) and paid broadcasts to an in-memory
publisher (``ceiling``: the bot's own ceiling, ledger, pace and scheduling without HTTP).
Printed per run: messages a second sustained (between the 5th and 95th percentile arrival at
the fake; for the in-memory publisher, its send calls), its ratio to the limit, the whole
run's rate (release, claims and the last answers included), the limit violations the fake saw
(429s it gave), the CPU per message of the bot's process while sending (with the fake's
thread when it shares the process) and of the fake's own process, and the load average (the
CPU figures are the steadier ones on a busy machine). Figures only: the script always exits 0.
The pace is ours (kept in the database); PTB's AIORateLimiter is lifted so that it does not
hide what the ledger does.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy import select
from telegram.ext import AIORateLimiter

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.app import build
from bot.clock import FrozenClock
from bot.config import load_settings
from bot.publish.base import Outgoing, Sent
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


class MemoryTelegram:
    """An in-memory Telegram publisher: answers at once, records the moment of each send."""

    name = "telegram"

    def __init__(self) -> None:
        self.times: list[float] = []

    async def send(self, destination: str, post: Outgoing) -> Sent:
        self.times.append(time.perf_counter())
        return Sent(str(len(self.times)))

    async def close(self) -> None:
        return None


def fake_state(n: int, latency: float) -> tuple[TelegramState, list[float]]:
    """The fake's state, and the list its accepted messages' arrival moments go to."""
    faults = FaultInjector(
        probabilities={FaultKind.SLOW: 1.0} if latency else {},
        random_methods=frozenset({"sendMessage"}),
        slow_delay=latency,
    )
    # Telegram's free limit; more only with allow_paid_broadcast, which the adapter sets when
    # telegram.messages_per_second is above 30
    state = TelegramState(chats={"@bench"}, users=set(range(FIRST, FIRST + n)), faults=faults)
    arrivals: list[float] = []
    record = state.limiter.record

    def stamp(chat_id: int, now: float) -> None:
        arrivals.append(time.perf_counter())  # CLOCK_MONOTONIC: comparable across processes
        record(chat_id, now)

    state.limiter.record = stamp  # type: ignore[method-assign]
    return state, arrivals


# (messages to subscribers, 429s given, arrivals, the fake's CPU seconds: None in process)
Outcome = tuple[int, int, list[float], float | None]


def outcome(state: TelegramState, arrivals: list[float], cpu: float | None = None) -> Outcome:
    sent = len([m for m in state.sent if m.chat_id >= FIRST])
    return sent, len([r for r in state.rejected if r.error_code == 429]), arrivals, cpu


def serve_in_child(conn: Connection, n: int, latency: float) -> None:
    """The fake in a process of its own (its own interpreter lock): serve until told."""
    state, arrivals = fake_state(n, latency)
    with ServerThread(make_telegram_app(state)) as url:
        conn.send(url)
        conn.recv()  # the sending begins: the fake's CPU counts from here
        cpu = time.process_time()
        conn.recv()
        cpu = time.process_time() - cpu
    conn.send(outcome(state, arrivals, cpu))


class FakeTelegram:
    """The fake Bot API in this process (a thread) or, ``separate``, in a child process."""

    def __init__(self, n: int, latency: float, *, separate: bool) -> None:
        self._n, self._latency, self._separate = n, latency, separate
        self._stack = contextlib.ExitStack()
        self.outcome: Outcome = (0, 0, [], None)
        self._begun = False

    def __enter__(self) -> str:
        if not self._separate:
            self._state, self._arrivals = fake_state(self._n, self._latency)
            return self._stack.enter_context(ServerThread(make_telegram_app(self._state)))
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._proc = context.Process(
            target=serve_in_child, args=(child, self._n, self._latency), daemon=True
        )
        self._proc.start()
        url: str = self._conn.recv()
        return url

    def begin(self) -> None:
        """The sending starts (the fake in its own process measures its CPU from here)."""
        if self._separate and not self._begun:
            self._begun = True
            self._conn.send("begin")

    def __exit__(self, *exc: object) -> None:
        if not self._separate:
            self._stack.close()
            self.outcome = outcome(self._state, self._arrivals)
            return
        self.begin()
        self._conn.send("done")
        self.outcome = self._conn.recv()
        self._proc.join(timeout=30)


async def one_run(
    label: str,
    n: int,
    *,
    latency: float,
    limit: int,
    memory: bool = False,
    separate: bool = False,
) -> None:
    fake = FakeTelegram(n, latency, separate=separate)
    memory_publisher = MemoryTelegram()
    with tempfile.TemporaryDirectory() as tmp, fake as url:
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
            if memory:
                app.publishers = {**app.publishers, "telegram": memory_publisher}
            dispatcher = app.dispatcher()
            fake.begin()
            started, cpu = time.perf_counter(), time.process_time()
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
            cpu = time.process_time() - cpu
        finally:
            await app.aclose()
    sent, refused, arrivals, fake_cpu = fake.outcome
    if memory:
        sent, arrivals = len(memory_publisher.times), memory_publisher.times
    sustained = steady_rate(arrivals)
    rate = sent / seconds
    work = f"bot {1000 * cpu / max(sent, 1):.2f}"
    if fake_cpu is not None:
        work += f", fake {1000 * fake_cpu / max(sent, 1):.2f}"
    print(
        f"{label:<40} {sent:>6,} sent in {seconds:7.1f} s: sustained {sustained:7.1f} msg/s "
        f"({sustained / limit:6.1%} of {limit}/s), whole run {rate:7.1f} msg/s, "
        f"{refused} limit violations; CPU ms/msg: {work}; load {load()}",
        flush=True,
    )


def load() -> str:
    """The 1-minute load average (the machine is shared: figures are noisy when it is high)."""
    with contextlib.suppress(OSError):
        return Path("/proc/loadavg").read_text().split()[0]
    return "?"


def steady_rate(times: list[float]) -> float:
    """Messages a second between the 5th and the 95th percentile arrival (the start, when the
    first batch is reserved and the post composed, and the last answers are left out)."""
    if len(times) < 20:
        return 0.0
    ordered = sorted(times)
    low, high = len(ordered) * 5 // 100, len(ordered) * 95 // 100
    span = ordered[high] - ordered[low]
    return (high - low) / span if span > 0 else 0.0


RUNS = {  # label, latency, limit, in-memory publisher, the fake in its own process
    "free": ("fake answers at once, 30/s", 0.0, 30, False, False),
    "latency": ("fake answers after 50 ms, 30/s", 0.05, 30, False, False),
    "paid": ("paid broadcast via PTB -> fake, 1000/s", 0.0, 1000, False, True),
    "paid-inprocess": ("paid, the fake in this process", 0.0, 1000, False, False),
    "ceiling": ("paid broadcast, in-memory publisher", 0.0, 1000, True, False),
}
DEFAULT = ("free", "latency", "paid")


async def run(n: int, only: Sequence[str]) -> None:
    for key in only or DEFAULT:
        label, latency, limit, memory, separate = RUNS[key]
        await one_run(label, n, latency=latency, limit=limit, memory=memory, separate=separate)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--only", action="append", choices=sorted(RUNS), default=[])
    args = parser.parse_args(argv)
    asyncio.run(run(args.subscribers, args.only))
    return 0


if __name__ == "__main__":
    sys.exit(main())
