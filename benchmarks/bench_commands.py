"""Command round trip and throughput through python-telegram-bot and the fake Bot API, and
the memory of a container that broadcast one post to 10,000 subscribers.

    .venv/bin/python benchmarks/bench_commands.py                      # 100,000 items
    .venv/bin/python benchmarks/bench_commands.py --keep /tmp/bench    # build the archive once
    .venv/bin/python benchmarks/bench_commands.py --quick              # 3,000 items, < 60 s

1. Round trip: ``/search QUERY`` updates go through ``Application.process_update`` of the real
   PTB Application with our handlers (``bot.telegram.install``) against the fake Bot API; the
   clock runs from the start of ``process_update`` until the fake has recorded the reply.
   Queries: English words, two-word queries, Chinese 1-4 characters and arXiv ids (the mix of
   ``bench_search.make_queries``), from 50 users in turn (mostly returning users), the
   services' clock moving 1 s per command (nobody reaches the flood limit). Also printed:
   ``BrowseService.search_page`` alone (what the handler calls). Target p95 <= 30 ms.
2. Throughput: the same commands back to back through our bot and through a bare PTB echo bot
   (one MessageHandler replying with the text) against the same fake, best of ``--rounds``;
   then again with PTB ``concurrent_updates=--concurrency``. Target >= 70% of the echo bot.
   At 100,000 items the archive search itself dominates a /search command, so the same
   comparison is also made with the browsing commands (``/week``, ``/latest``, ``/help`` in
   turn), whose cost is the bot's own layers. Also printed: process CPU per command (this
   process runs the bot, the echo bot and the fake: CPU is steadier than wall time on a
   loaded machine). ``--limiter``: our bot with PTB's AIORateLimiter, limits off (what it
   costs; in ``run`` replies also share Telegram's 30 msg/s overall budget).
3. Memory: RSS (VmRSS, and the peak VmHWM, from /proc/self/status) of a container with
   10,000 subscribers in its database after ``release_due`` (audience worked out, delivery
   rows made) and after one dispatcher tick sending them to the fake (its limits off, our
   pace 1,000 msg/s), the tick stopped after ``--tick-seconds``. Measured first, before the
   archive is loaded into this process; the fake (in a thread) is in this process too.

The fake runs on this event loop by default (``--server thread``: in its own thread), with
its rate limits off. ``--quick``: 3,000 items, 40 commands, 1,000 subscribers, a 10 s tick.
Figures only: always exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import itertools
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import SecretStr
from telegram import Update
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder, MessageHandler, filters

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import _synthetic as synth
from bench_search import Query, build_archive, make_queries, pct, synthetic_issues

from bot.app import Container, build
from bot.clock import FrozenClock
from bot.config import Settings, load_settings
from bot.sandbox import ServerThread, TelegramState, make_telegram_app, running
from bot.store.migrate import upgrade
from bot.telegram import Services, install
from tests.builders import TELEGRAM_TOKEN, add_subscribers, item, store, weekly

TARGET_P95_MS = 30.0
TARGET_RATIO = 0.70
NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
FIRST_USER = 2_000_000
USERS = 50  # commands rotate over this many private chats, so most come from returning users
STEP_S = 1.0  # the services' clock moves this much per command: each user 1.2/min, no flooding
FIRST_SUBSCRIBER = 1_000_000
BROWSING = ("/week", "/latest", "/help")  # commands whose cost is the bot's own layers
BROWSING_LABEL = "/week /latest /help"
AnyApp = Application[Any, Any, Any, Any, Any, Any]


# ---------------------------------------------------------------- memory
def rss_mib() -> tuple[float, float]:
    """(VmRSS, VmHWM) of this process in MiB."""
    fields: dict[str, float] = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
    return fields.get("VmRSS", 0.0), fields.get("VmHWM", 0.0)


def unlimited() -> AIORateLimiter:
    return AIORateLimiter(overall_max_rate=0, group_max_rate=0, max_retries=0)


def broadcast_settings(db: str, url: str) -> Settings:
    settings = load_settings(database_url=db)
    telegram = settings.telegram.model_copy(
        update={
            "token": SecretStr(TELEGRAM_TOKEN),
            "api_base_url": url,
            "messages_per_second": 1000,
        }
    )
    return settings.model_copy(update={"telegram": telegram})


async def measure_memory(n: int, tick_limit: float) -> None:
    gc.collect()
    base, _ = rss_mib()
    users = set(range(FIRST_SUBSCRIBER, FIRST_SUBSCRIBER + n))
    state = TelegramState(users=users, limits_enabled=False)
    with (
        tempfile.TemporaryDirectory(prefix="bench-cmd-mem-") as tmp,
        ServerThread(make_telegram_app(state)) as url,
    ):
        db = f"sqlite:///{Path(tmp) / 'm.db'}"
        upgrade(db)
        settings = broadcast_settings(db, url)
        setup = build(settings, FrozenClock(datetime(2026, 1, 5, tzinfo=UTC)))
        try:
            await store(setup, weekly("2026-W02", [item(1, "Broadcast.", arxiv="2601.00001")]))
            await setup.queue.enqueue_issues(["2026-W02"])
            await add_subscribers(
                setup, range(FIRST_SUBSCRIBER, FIRST_SUBSCRIBER + n), NOW, receive="drip"
            )
        finally:
            await setup.aclose()
        app = build(settings, telegram_rate_limiter=unlimited)
        dispatcher = app.dispatcher()
        try:
            await app.platforms.connect()
            built, _ = rss_mib()
            started = time.perf_counter()
            released = await dispatcher.release_due(app.clock())  # audience + delivery rows
            release_s = time.perf_counter() - started
            audience, _ = rss_mib()
            asyncio.get_running_loop().call_later(tick_limit, dispatcher.stop)
            started = time.perf_counter()
            await dispatcher.tick()  # sends until done or stopped after tick_limit seconds
            tick_s = time.perf_counter() - started
            after, peak = rss_mib()
        finally:
            await app.aclose()
    sent = len([m for m in state.sent if m.chat_id >= FIRST_SUBSCRIBER])
    print(
        f"memory, {n:,} subscribers (RSS, MiB): {base:.0f} at start (imports done), "
        f"{built:.0f} container built and connected, {audience:.0f} after releasing "
        f"{len(released)} posts to the audience ({release_s:.1f} s), {after:.0f} after the "
        f"tick ({sent:,} sent in {tick_s:.1f} s, {sent / tick_s:.0f}/s, "
        f"{len(state.rejected)} rejected{'; stopped at the time limit' if sent < n else ''}); "
        f"peak {peak:.0f}",
        flush=True,
    )


# ---------------------------------------------------------------- bots
class FakeMeter:
    """CPU seconds the fake spends in its request handlers (validating, parsing the HTML of
    a reply, building the answer): Telegram's side, not the bot's. ``middleware`` reads this
    thread's CPU clock around each handler (they do not await anything slow)."""

    def __init__(self) -> None:
        self.seconds = 0.0

        @web.middleware
        async def middleware(request: web.Request, handler: Any) -> web.StreamResponse:
            started = time.thread_time()
            try:
                response: web.StreamResponse = await handler(request)
                return response
            finally:
                self.seconds += time.thread_time() - started

        self.middleware = middleware


METER = FakeMeter()


@contextlib.asynccontextmanager
async def fake_api(state: TelegramState, mode: str) -> AsyncIterator[str]:
    app = make_telegram_app(state)
    app.middlewares.append(METER.middleware)
    if mode == "thread":
        with ServerThread(app) as url:
            yield url
    else:
        async with running(app) as url:
            yield url


def application(url: str, concurrency: int, *, limiter: bool = False) -> AnyApp:
    builder = (
        ApplicationBuilder()
        .token(TELEGRAM_TOKEN)
        .base_url(f"{url}/bot")
        .base_file_url(f"{url}/file/bot")
        .concurrent_updates(concurrency if concurrency > 1 else False)
    )
    if limiter:
        builder = builder.rate_limiter(unlimited())
    return builder.build()


@contextlib.asynccontextmanager
async def bots(
    url: str, app: Container, clock: FrozenClock, concurrency: int, *, limiter: bool = False
) -> AsyncIterator[tuple[AnyApp, AnyApp]]:
    """Ours (every handler of bot.telegram) and a bare echo bot, both initialized."""
    ours = application(url, concurrency, limiter=limiter)
    install(ours, Services(app.archive, app.browse, app.subscribers, app.settings, clock))
    bare = application(url, concurrency)
    bare.add_handler(MessageHandler(filters.TEXT, echo))
    await ours.initialize()
    try:
        await bare.initialize()
        try:
            yield ours, bare
        finally:
            await bare.shutdown()
    finally:
        await ours.shutdown()


async def echo(update: Update, _context: Any) -> None:
    if update.message is not None and update.message.text is not None:
        await update.message.reply_text(update.message.text)


class Feeder:
    """Builds private-chat ``/search`` updates, rotating over USERS users."""

    def __init__(self, state: TelegramState, clock: FrozenClock) -> None:
        self.state = state
        self.clock = clock
        self.ids = itertools.count(1)

    def update(self, text: str, n: int) -> dict[str, Any]:
        user = FIRST_USER + n % USERS
        self.clock.advance(seconds=STEP_S)
        command = text.split()[0]
        message = {
            "message_id": next(self.ids),
            "date": int(self.clock().timestamp()),
            "chat": {"id": user, "type": "private", "first_name": f"U{user}"},
            "from": {"id": user, "is_bot": False, "first_name": f"U{user}", "language_code": "en"},
            "text": text,
            "entities": [
                {
                    "type": "bot_command",
                    "offset": 0,
                    "length": len(command.encode("utf-16-le")) // 2,
                }
            ],
        }
        data: dict[str, Any] = {"message": message}
        data["update_id"] = self.state.push_update(data)
        return data


async def round_trips(app: AnyApp, feeder: Feeder, texts: Sequence[str]) -> list[float]:
    """ms per command, from process_update until the fake recorded the reply."""
    state = feeder.state
    timings: list[float] = []
    for n, text in enumerate(texts):
        data = feeder.update(text, n)
        before = len(state.sent)
        started = time.perf_counter()
        await app.process_update(Update.de_json(data, app.bot))
        if len(state.sent) == before:  # handlers await their reply: it is recorded by now
            print(f"  warning: no reply to {text!r}")
            continue
        timings.append((time.perf_counter() - started) * 1000)
    return timings


async def throughput(
    app: AnyApp, feeder: Feeder, texts: Sequence[str]
) -> tuple[float, float, float]:
    """(commands a second, process CPU ms per command, of which the fake's handlers): one
    after another (PTB's default), or all handed over at once to an Application with
    ``concurrent_updates`` (which then bounds how many run together)."""
    state = feeder.state
    updates = [Update.de_json(feeder.update(t, n), app.bot) for n, t in enumerate(texts)]
    before = len(state.sent)
    fake = METER.seconds
    cpu = time.process_time()
    started = time.perf_counter()
    if app.concurrent_updates > 1:
        await asyncio.gather(*(app.process_update(u) for u in updates))
    else:
        for update in updates:
            await app.process_update(update)
    seconds = time.perf_counter() - started
    cpu_ms = (time.process_time() - cpu) * 1000 / len(updates)
    fake_ms = (METER.seconds - fake) * 1000 / len(updates)
    if len(state.sent) - before != len(updates):
        print(f"  warning: {len(state.sent) - before} replies to {len(updates)} commands")
    return len(updates) / seconds, cpu_ms, fake_ms


def summary(label: str, ms: Sequence[float]) -> str:
    p95 = pct(ms, 95)
    ok = "ok" if p95 <= TARGET_P95_MS else "NOT MET"
    return (
        f"{label}: n={len(ms)} p50 {pct(ms, 50):.1f} ms, p95 {p95:.1f} ms, max {max(ms):.1f} ms "
        f"(target p95 <= {TARGET_P95_MS:.0f} ms: {ok})"
    )


async def compare_throughput(
    ours: AnyApp,
    bare: AnyApp,
    feeder: Feeder,
    texts: Sequence[str],
    rounds: int,
    label: str = "/search",
) -> None:
    ours_rates: list[float] = []
    echo_rates: list[float] = []
    ours_cpu: list[tuple[float, float]] = []
    echo_cpu: list[tuple[float, float]] = []
    for _ in range(rounds):  # alternate, so that drift hits both alike
        rate, cpu, fake = await throughput(ours, feeder, texts)
        ours_rates.append(rate)
        ours_cpu.append((cpu, fake))
        rate, cpu, fake = await throughput(bare, feeder, texts)
        echo_rates.append(rate)
        echo_cpu.append((cpu, fake))
    best_ours, best_echo = max(ours_rates), max(echo_rates)
    ratio = best_ours / best_echo
    (o_cpu, o_fake), (e_cpu, e_fake) = min(ours_cpu), min(echo_cpu)
    bot_ratio = (e_cpu - e_fake) / (o_cpu - o_fake)
    ok = "ok" if ratio >= TARGET_RATIO else "NOT MET"
    how = (
        f"concurrent_updates={ours.concurrent_updates}"
        if ours.concurrent_updates > 1
        else "one after another"
    )
    print(
        f"throughput {label} ({len(texts)} commands, {how}, best of {rounds}): ours "
        f"{best_ours:.0f}/s, bare echo bot {best_echo:.0f}/s, ratio {ratio:.0%} "
        f"(target >= {TARGET_RATIO:.0%}: {ok}); CPU per command ours {o_cpu:.2f} ms "
        f"(the fake's handlers {o_fake:.2f}), echo {e_cpu:.2f} ms ({e_fake:.2f}); "
        f"without the fake echo/ours {bot_ratio:.0%}; all rounds ours "
        f"{', '.join(f'{r:.0f}' for r in ours_rates)}, echo "
        f"{', '.join(f'{r:.0f}' for r in echo_rates)}",
        flush=True,
    )


async def measure_commands(
    app: Container, mixed: Sequence[Query], args: argparse.Namespace
) -> None:
    texts = [f"/search {q.text}" for q in mixed]
    browsing = [BROWSING[n % len(BROWSING)] for n in range(len(texts))]
    clock = FrozenClock(NOW)
    state = TelegramState(limits_enabled=False)
    feeder = Feeder(state, clock)
    async with fake_api(state, args.server) as url:
        async with bots(url, app, clock, 1, limiter=args.limiter) as (ours, bare):
            await round_trips(ours, feeder, texts[: args.warmup])
            await round_trips(bare, feeder, texts[: args.warmup])
            ms = await round_trips(ours, feeder, texts)
            alone: list[float] = []
            for q in mixed:  # what the handler calls, without PTB, rendering and HTTP
                started = time.perf_counter()
                await app.browse.search_page(q.text, 1)
                alone.append((time.perf_counter() - started) * 1000)
            echo_ms = await round_trips(bare, feeder, texts)
            print(summary("/search round trip (ours)", ms), flush=True)
            print(summary("echo round trip (bare PTB)", echo_ms), flush=True)
            print(
                "BrowseService.search_page alone (what /search calls), same queries: "
                f"p50 {pct(alone, 50):.1f} ms, p95 {pct(alone, 95):.1f} ms, "
                f"max {max(alone):.1f} ms"
            )
            by_kind: dict[str, list[float]] = {}
            for q, t in zip(mixed, ms, strict=True):
                by_kind.setdefault(q.kind, []).append(t)
            for kind, values in by_kind.items():
                print(
                    f"  {kind:<18} n={len(values):<4} p50 {pct(values, 50):6.1f} ms  "
                    f"p95 {pct(values, 95):6.1f} ms  max {max(values):6.1f} ms"
                )
            await compare_throughput(ours, bare, feeder, texts, args.rounds)
            await throughput(ours, feeder, browsing[: args.warmup])
            await compare_throughput(ours, bare, feeder, browsing, args.rounds, BROWSING_LABEL)
        if args.concurrency > 1:
            async with bots(url, app, clock, args.concurrency, limiter=args.limiter) as (
                ours,
                bare,
            ):
                await compare_throughput(ours, bare, feeder, texts, args.rounds)
                await compare_throughput(ours, bare, feeder, browsing, args.rounds, BROWSING_LABEL)
    if state.rejected:
        print(f"  the fake rejected {len(state.rejected)} requests: {state.rejected[:3]}")


async def run(args: argparse.Namespace) -> None:
    print(f"server on {'its own thread' if args.server == 'thread' else 'the same event loop'}")
    await measure_memory(args.subscribers, args.tick_seconds)
    with tempfile.TemporaryDirectory(prefix="bench-cmd-") as tmp:
        folder: Path = args.keep or Path(tmp)  # main() created --keep
        db = folder / f"bench-{args.items}-{args.seed}.db"  # the name bench_search --keep uses
        reuse = db.exists()
        url = f"sqlite:///{db}"
        upgrade(url)
        app = build(load_settings(database_url=url), FrozenClock(NOW))
        try:
            issues = list(synthetic_issues(args.items, args.seed))
            if reuse:
                print(f"archive: {args.items:,} items reused from {db}")
            else:
                seconds = await build_archive(app, issues)
                print(f"archive: built {args.items:,} items in {seconds:.0f} s")
            classes = make_queries(issues, (args.queries + 1) // 2, args.seed)
            del issues
            pairs = zip(*classes.values(), strict=True)  # alternate 3+ chars and 1-2 char CJK
            mixed = [q for pair in pairs for q in pair][: args.queries]
            await measure_commands(app, mixed, args)
        except BaseException:
            if not reuse:
                db.unlink(missing_ok=True)  # never reuse a half-built archive
            raise
        finally:
            await app.aclose()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=100_000, help="archive size (items)")
    parser.add_argument("--queries", type=int, default=200, help="timed /search commands")
    parser.add_argument("--warmup", type=int, default=20, help="untimed commands first")
    parser.add_argument("--rounds", type=int, default=3, help="throughput rounds per bot")
    parser.add_argument("--subscribers", type=int, default=10_000, help="for the memory figure")
    parser.add_argument(
        "--tick-seconds", type=float, default=90.0, help="stop the broadcast tick after this"
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=8,
        help="also measure throughput with PTB concurrent_updates=N (1: skip)",
    )
    parser.add_argument("--server", choices=("loop", "thread"), default="loop")
    parser.add_argument(
        "--limiter", action="store_true", help="our bot with AIORateLimiter (limits off)"
    )
    parser.add_argument("--seed", type=int, default=synth.DEFAULT_SEED)
    parser.add_argument("--quick", action="store_true", help="3,000 items, 40 commands")
    parser.add_argument("--keep", type=Path, help="build the archive here once, reuse it later")
    args = parser.parse_args(argv)
    if args.quick:
        args.items, args.queries, args.warmup, args.rounds = 3_000, 40, 5, 2
        args.subscribers, args.tick_seconds = 1_000, 10.0
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
    asyncio.run(run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
