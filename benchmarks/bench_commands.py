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
   services' clock moving 1 s per command (nobody reaches the flood limit). Measured with
   nothing kept (services built with ``NoVersion``: every query searched), then again with
   the search pages kept (the same queries repeated). Also printed:
   ``BrowseService.search_page`` alone, nothing kept (what the handler calls). Target p95
   <= 30 ms.
2. Throughput, against a bare PTB echo bot (one MessageHandler replying with the text, one
   CallbackQueryHandler answering a press) on the same fake, best of ``--rounds`` (alternated).
   The **subscriber mix** is what subscribers send, per 40 updates in a shuffled order
   (``MIX_WEIGHTS``): /start 2, /help 4, /week 8, /latest 6, /picks 4, /search 12 (a popular
   query: the 24 first distinct queries of the query mix, the k-th most popular 1/k as often),
   /settings 3 and 1 settings button press (receive: papers <-> both, a write). After every
   user sent /start once, the mix and then each of its commands alone are compared, and the
   browsing commands (``/week``, ``/latest``, ``/help`` in turn); every line gives the wall
   ratio (target >= 70%), the process CPU per command of each bot (this process runs the
   bots and the fake: CPU is steadier than wall time on a loaded machine; "without the
   fake" leaves out the fake's request handlers) and a third bot, the **replay**: a bare
   PTB bot sending, for each command, the very reply ours sent (captured in a first pass),
   so that ours/replay is what our handlers, services and guard add to the replies' own
   cost (their size, entities and keyboards through PTB, HTTP and the fake). Then, with
   nothing kept, the /search commands of part 1 (every query searched) and the mix; and the
   mix with PTB ``concurrent_updates=--concurrency``. A summary table ends the part, with the
   kept answers' hits, misses and resets. ``--broadcast N`` (default 50; 0 skips): the mix
   again while a separate process commits N ledger-like writes a second (a delivery of a post
   being broadcast marked sent per commit, a lease row now and then), with the answers kept
   under ``data_version`` alone (every commit drops them: the signal before migration 0015)
   and under the content versions (only writes of what the answers read drop them); the
   kept answers' counts follow each. ``--limiter``: our bot with PTB's AIORateLimiter,
   limits off (what it costs; in ``run`` replies also share Telegram's 30 msg/s budget).
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
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import SecretStr
from telegram import CallbackQuery, Message, Update
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    MessageHandler,
    filters,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import _synthetic as synth
from bench_search import Query, build_archive, make_queries, pct, synthetic_issues

from bot.app import Container, build
from bot.clock import FrozenClock
from bot.config import Settings, load_settings
from bot.sandbox import ServerThread, TelegramState, make_telegram_app, running
from bot.services.browse import BrowseService
from bot.services.subscribers import SubscriberService
from bot.store.data_version import ARCHIVE, SUBSCRIBERS, NoVersion, data_version
from bot.store.migrate import upgrade
from bot.telegram import Services, buttons, install, replies, subscriber
from bot.telegram.keyboards import setting_data
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
PRESS = "press:"  # a text starting so is fed as a settings button press, not a message
#: the subscriber mix, per 40 updates: what subscribers send (see the module docstring)
MIX_WEIGHTS: tuple[tuple[str, int], ...] = (
    ("/start", 2),
    ("/help", 4),
    ("/week", 8),
    ("/latest", 6),
    ("/picks", 4),
    ("/search", 12),  # a popular query (POPULAR of them, Zipf-distributed)
    ("/settings", 3),
    (PRESS, 1),  # a settings button (receive: drip <-> both), which writes the subscriber
)
POPULAR = 24  # distinct typical queries in the mix's /search commands
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
    url: str,
    app: Container,
    clock: FrozenClock,
    concurrency: int,
    *,
    limiter: bool = False,
    cached: bool = True,
    services: tuple[BrowseService, SubscriberService] | None = None,
) -> AsyncIterator[tuple[AnyApp, AnyApp]]:
    """Ours (every handler of bot.telegram) and a bare echo bot, both initialized.
    ``cached`` False: our services keep nothing (every answer read from the database);
    ``services``: these browse and subscriber services instead of the container's."""
    ours = application(url, concurrency, limiter=limiter)
    if services is not None:
        browse, subscribers = services
    else:
        browse, subscribers = (app.browse, app.subscribers) if cached else uncached(app)
    install(ours, Services(app.archive, browse, subscribers, app.settings, clock))
    bare = application(url, concurrency)
    bare.add_handler(MessageHandler(filters.TEXT, echo))
    bare.add_handler(CallbackQueryHandler(echo_press))
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


async def echo_press(update: Update, _context: Any) -> None:
    if update.callback_query is not None:
        await update.callback_query.answer(update.callback_query.data)


class Replay:
    """A bare PTB bot sending, for each command, the very reply our bot sent for it (captured
    in a first pass): the replies' own cost (their size and entities through PTB, HTTP and the
    fake), without our layers. ours/replay is what our handlers, services and guard add."""

    def __init__(self) -> None:
        self.messages: dict[str, tuple[str, Any, bool]] = {}
        self.edits: dict[str, tuple[str, Any]] = {}

    @contextlib.contextmanager
    def capture(self) -> Iterator[None]:
        handlers, presses = vars(subscriber), vars(buttons)  # where the handlers find them
        real_reply, real_edit = handlers["reply"], presses["edit"]

        async def spy_reply(
            update: Update, text: str, markup: Any = None, *, preview: bool = False
        ) -> None:
            if update.effective_message is not None and update.effective_message.text:
                self.messages[update.effective_message.text] = (text, markup, preview)
            await real_reply(update, text, markup, preview=preview)

        async def spy_edit(query: CallbackQuery, text: str, markup: Any) -> None:
            self.edits[query.data or ""] = (text, markup)
            await real_edit(query, text, markup)

        handlers["reply"], presses["edit"] = spy_reply, spy_edit
        try:
            yield
        finally:
            handlers["reply"], presses["edit"] = real_reply, real_edit

    async def on_message(self, update: Update, _context: Any) -> None:
        message = update.effective_message
        if message is None or message.text is None:
            return
        text, markup, preview = self.messages.get(message.text, (message.text, None, False))
        await replies.reply(update, text, markup, preview=preview)

    async def on_press(self, update: Update, _context: Any) -> None:
        query = update.callback_query
        if query is None:
            return
        found = self.edits.get(query.data or "")
        message = query.message
        if found is not None and not (
            isinstance(message, Message) and message.reply_markup == found[1]
        ):
            await replies.edit(query, *found)
        await query.answer()

    def application(self, url: str) -> AnyApp:
        bot = application(url, 1)
        bot.add_handler(MessageHandler(filters.ALL, self.on_message))
        bot.add_handler(CallbackQueryHandler(self.on_press))
        return bot


class Feeder:
    """Builds private-chat command updates, rotating over USERS users; ``press:DATA`` is a
    button press (callback data DATA) on the newest message the bot sent that user."""

    def __init__(self, state: TelegramState, clock: FrozenClock) -> None:
        self.state = state
        self.clock = clock
        self.ids = itertools.count(1)

    def update(self, text: str, n: int) -> dict[str, Any]:
        user = FIRST_USER + n % USERS
        self.clock.advance(seconds=STEP_S)
        if text.startswith(PRESS):
            return self.press(user, text.removeprefix(PRESS))
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

    def press(self, user: int, callback_data: str) -> dict[str, Any]:
        sent = self.state.messages(user)[-1]
        query = {
            "id": f"cq{next(self.ids)}",
            "from": {"id": user, "is_bot": False, "first_name": f"U{user}", "language_code": "en"},
            "chat_instance": "bench",
            "data": callback_data,
            "message": {
                "message_id": sent.message_id,
                "date": sent.date,
                "chat": self.state.chat_object(user),
                "text": sent.visible_text,
                "from": self.state.bot_user,
                **({"reply_markup": sent.reply_markup} if sent.reply_markup else {}),
            },
        }
        data: dict[str, Any] = {"callback_query": query}
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
    before = answered(state)
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
    if answered(state) - before != len(updates):
        print(f"  warning: {answered(state) - before} answers to {len(updates)} updates")
    return len(updates) / seconds, cpu_ms, fake_ms


def answered(state: TelegramState) -> int:
    """Messages sent and button presses answered (a press is answered once: edit + answer)."""
    return len(state.sent) + len(state.callback_answers)


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
    replay: AnyApp | None = None,
) -> tuple[float, float, float | None]:
    """Prints the comparison; returns (wall ratio, best of the rounds each; CPU ratio echo/ours,
    least CPU of the rounds each; CPU ratio replay/ours, when ``replay`` is given)."""
    ours_rates: list[float] = []
    echo_rates: list[float] = []
    ours_cpu: list[tuple[float, float]] = []
    echo_cpu: list[tuple[float, float]] = []
    replay_cpu: list[tuple[float, float]] = []
    for _ in range(rounds):  # alternate, so that drift hits both alike
        rate, cpu, fake = await throughput(ours, feeder, texts)
        ours_rates.append(rate)
        ours_cpu.append((cpu, fake))
        rate, cpu, fake = await throughput(bare, feeder, texts)
        echo_rates.append(rate)
        echo_cpu.append((cpu, fake))
        if replay is not None:
            _rate, cpu, fake = await throughput(replay, feeder, texts)
            replay_cpu.append((cpu, fake))
    best_ours, best_echo = max(ours_rates), max(echo_rates)
    ratio = best_ours / best_echo
    paired = statistics.median(o / e for o, e in zip(ours_rates, echo_rates, strict=True))
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
        f"(target >= {TARGET_RATIO:.0%}: {ok}; median of the rounds' ratios {paired:.0%}); "
        f"CPU per command ours {o_cpu:.2f} ms "
        f"(the fake's handlers {o_fake:.2f}), echo {e_cpu:.2f} ms ({e_fake:.2f}); "
        f"without the fake echo/ours {bot_ratio:.0%}; all rounds ours "
        f"{', '.join(f'{r:.0f}' for r in ours_rates)}, echo "
        f"{', '.join(f'{r:.0f}' for r in echo_rates)}",
        flush=True,
    )
    cpu_ratio = e_cpu / o_cpu
    layers = min(replay_cpu)[0] / o_cpu if replay_cpu else None
    if replay_cpu:
        r_cpu, r_fake = min(replay_cpu)
        print(
            f"  {label}: CPU per command echo/ours {cpu_ratio:.0%}; the same replies from a bare "
            f"bot {r_cpu:.2f} ms ({r_fake:.2f} the fake's): what our layers add "
            f"{o_cpu - r_cpu:+.2f} ms, replay/ours {r_cpu / o_cpu:.0%}",
            flush=True,
        )
    return ratio, cpu_ratio, layers


def uncached(app: Container) -> tuple[BrowseService, SubscriberService]:
    """The container's browse and subscriber services with nothing kept (every answer read)."""
    browse = BrowseService(
        app.sync_sessions, app.clock, app.archive, app.settings.schedule, version=NoVersion()
    )
    subscribers = SubscriberService(
        app.sessions, app.clock, app.settings.schedule, version=NoVersion()
    )
    return browse, subscribers


def signalled(app: Container, scoped: bool) -> tuple[BrowseService, SubscriberService]:
    """Browse and subscriber services keeping answers under SQLite's change signal: scoped
    (content versions, migration 0015: only the writes their answers read drop them) or
    coarse (``data_version`` alone: every commit of any connection drops them)."""
    archive = data_version(app.sync_engine, ARCHIVE if scoped else None)
    people = data_version(app.sync_engine, SUBSCRIBERS if scoped else None)
    browse = BrowseService(
        app.sync_sessions, app.clock, app.archive, app.settings.schedule, version=archive
    )
    subscribers = SubscriberService(
        app.sessions, app.clock, app.settings.schedule, version=people, quiet_writes=archive
    )
    return browse, subscribers


class LedgerWriter:
    """``per_second`` ledger-like commits from a separate process (its CPU is not this
    process's) until stopped: the writes that, with the coarse signal, drop every kept answer."""

    SCRIPT = """
import sqlite3, sys, threading, time
path, per_second, rows = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
conn = sqlite3.connect(path, isolation_level=None, timeout=5)
now = "2026-03-02 08:00:00.000000"
post = conn.execute(
    "INSERT INTO posts (kind, text, rank, slot, state, created_at, updated_at) "
    "VALUES ('digest', 'bench broadcast', 0, ?, 'sending', ?, ?)", (now, now, now)
).lastrowid
conn.executemany(
    "INSERT INTO deliveries (post_id, destination, state, attempts, due_at, duplicates, "
    "updated_at) VALUES (?, ?, 'pending', 0, ?, 0, ?)",
    [(post, f"telegram:{9_000_000 + k}", now, now) for k in range(rows)],
)
ids = [r[0] for r in conn.execute("SELECT id FROM deliveries WHERE post_id = ?", (post,))]
stop = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
print("ready", flush=True)
commits, started = 0, time.monotonic()
while not stop.is_set():
    at = time.strftime("%Y-%m-%d %H:%M:%S.000000", time.gmtime())
    conn.execute(
        "UPDATE deliveries SET state = 'sent', sent_at = ?, updated_at = ? WHERE id = ?",
        (at, at, ids[commits % len(ids)]),
    )
    if commits % 10 == 0:
        conn.execute(
            "INSERT INTO runtime_state (key, value, updated_at) VALUES ('lock:bench', ?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (str(commits), at)
        )
    commits += 1
    stop.wait(max(0.0, started + commits / per_second - time.monotonic()))
conn.execute("DELETE FROM runtime_state WHERE key = 'lock:bench'")
conn.execute("DELETE FROM deliveries WHERE post_id = ?", (post,))
conn.execute("DELETE FROM posts WHERE id = ?", (post,))
print(f"commits {commits} in {time.monotonic() - started:.1f} s", flush=True)
"""

    def __init__(self, db: Path, per_second: float, rows: int = 1000) -> None:
        self.command = [sys.executable, "-c", self.SCRIPT, str(db), str(per_second), str(rows)]
        self.process: subprocess.Popen[str] | None = None
        self.report = ""

    def __enter__(self) -> LedgerWriter:
        self.process = subprocess.Popen(
            self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        if self.process.stdout.readline().strip() != "ready":
            raise RuntimeError("the ledger writer did not start")
        return self

    def __exit__(self, *_exc: object) -> None:
        assert self.process is not None
        out, _ = self.process.communicate("", timeout=30)  # closes stdin: the writer stops
        self.report = out.strip()


def mix_texts(popular: Sequence[str], n: int, seed: int) -> list[str]:
    """``n`` updates of the subscriber mix: each block of 40 holds MIX_WEIGHTS exactly, in a
    random order; /search takes a popular query (Zipf: the k-th most popular 1/k as often)."""
    rng = random.Random(seed)
    deck = [command for command, weight in MIX_WEIGHTS for _ in range(weight)]
    weights = [1 / rank for rank in range(1, len(popular) + 1)]
    receive = itertools.cycle(("drip", "both"))
    texts: list[str] = []
    while len(texts) < n:
        rng.shuffle(deck)
        for command in deck:
            if command == "/search":
                texts.append(f"/search {rng.choices(popular, weights)[0]}")
            elif command == PRESS:
                texts.append(PRESS + setting_data("receive", next(receive)))
            else:
                texts.append(command)
    return texts[:n]


def popular_queries(mixed: Sequence[Query]) -> list[str]:
    """The first POPULAR distinct queries of the benchmark's query mix, most popular first."""
    return list(dict.fromkeys(q.text for q in mixed))[:POPULAR]


async def prime(ours: AnyApp, feeder: Feeder) -> None:
    """Every user sends /start once (untimed): known subscribers, a message to press on."""
    await round_trips(ours, feeder, ["/start"] * USERS)


async def measure_round_trips(
    app: Container, feeder: Feeder, url: str, mixed: Sequence[Query], args: argparse.Namespace
) -> None:
    """/search round trips with nothing kept (every query searched), then with the cache."""
    texts = [f"/search {q.text}" for q in mixed]
    browse, _ = uncached(app)
    async with bots(url, app, feeder.clock, 1, limiter=args.limiter, cached=False) as (
        ours,
        bare,
    ):
        await round_trips(ours, feeder, texts[: args.warmup])
        await round_trips(bare, feeder, texts[: args.warmup])
        ms = await round_trips(ours, feeder, texts)
        alone: list[float] = []
        for q in mixed:  # what the handler calls, without PTB, rendering and HTTP
            started = time.perf_counter()
            await browse.search_page(q.text, 1)
            alone.append((time.perf_counter() - started) * 1000)
        echo_ms = await round_trips(bare, feeder, texts)
    print(summary("/search round trip (ours, nothing kept)", ms), flush=True)
    print(summary("echo round trip (bare PTB)", echo_ms), flush=True)
    print(
        "BrowseService.search_page alone (what /search calls, nothing kept), same queries: "
        f"p50 {pct(alone, 50):.1f} ms, p95 {pct(alone, 95):.1f} ms, max {max(alone):.1f} ms"
    )
    by_kind: dict[str, list[float]] = {}
    for q, t in zip(mixed, ms, strict=True):
        by_kind.setdefault(q.kind, []).append(t)
    for kind, values in by_kind.items():
        print(
            f"  {kind:<18} n={len(values):<4} p50 {pct(values, 50):6.1f} ms  "
            f"p95 {pct(values, 95):6.1f} ms  max {max(values):6.1f} ms"
        )
    async with bots(url, app, feeder.clock, 1, limiter=args.limiter) as (ours, _bare):
        await round_trips(ours, feeder, texts)  # every distinct query once: now kept
        kept = await round_trips(ours, feeder, texts)
    print(summary("/search round trip (ours, pages kept: repeated queries)", kept), flush=True)


async def measure_commands(
    app: Container, mixed: Sequence[Query], args: argparse.Namespace
) -> None:
    texts = [f"/search {q.text}" for q in mixed]
    n = len(texts)
    mix = mix_texts(popular_queries(mixed), n, args.seed)
    browsing = [BROWSING[k % len(BROWSING)] for k in range(n)]
    clock = FrozenClock(NOW)
    state = TelegramState(limits_enabled=False)
    feeder = Feeder(state, clock)
    ratios: dict[str, tuple[float, float, float | None]] = {}
    async with fake_api(state, args.server) as url:
        await measure_round_trips(app, feeder, url, mixed, args)
        replay = Replay()
        copycat = replay.application(url)
        await copycat.initialize()
        async with bots(url, app, clock, 1, limiter=args.limiter) as (ours, bare):
            await prime(ours, feeder)
            with replay.capture():  # every reply of the mix, for the replay bot
                await throughput(ours, feeder, mix)
            await throughput(bare, feeder, mix[: args.warmup])
            await throughput(copycat, feeder, mix[: args.warmup])
            for label, same in commands_to_compare(mix, n):
                ratios[label] = await compare_throughput(
                    ours, bare, feeder, same, args.rounds, label, copycat
                )
            ratios[BROWSING_LABEL] = await compare_throughput(
                ours, bare, feeder, browsing, args.rounds, BROWSING_LABEL, copycat
            )
        await copycat.shutdown()
        async with bots(url, app, clock, 1, limiter=args.limiter, cached=False) as (ours, bare):
            label = "/search (every query searched, nothing kept)"
            ratios[label] = await compare_throughput(ours, bare, feeder, texts, args.rounds, label)
            label = "subscriber mix, nothing kept"
            ratios[label] = await compare_throughput(ours, bare, feeder, mix, args.rounds, label)
        if args.concurrency > 1:
            async with bots(url, app, clock, args.concurrency, limiter=args.limiter) as (
                ours,
                bare,
            ):
                label = f"subscriber mix, concurrent_updates={args.concurrency}"
                ratios[label] = await compare_throughput(
                    ours, bare, feeder, mix, args.rounds, label
                )
        if args.broadcast > 0:
            await during_broadcast(app, feeder, url, mix, args, ratios)
    print_ratios(ratios)
    print(
        f"kept answers: browse {app.browse.cache.stats}, subscribers {app.subscribers.cache.stats}"
    )
    if state.rejected:
        print(f"  the fake rejected {len(state.rejected)} requests: {state.rejected[:3]}")


async def during_broadcast(
    app: Container,
    feeder: Feeder,
    url: str,
    mix: Sequence[str],
    args: argparse.Namespace,
    ratios: dict[str, tuple[float, float, float | None]],
) -> None:
    """The mix while another process commits like the ledger broadcasting a post, with the
    answers kept under the coarse signal (any commit drops them) and the scoped one."""
    for scoped in (False, True):
        services = signalled(app, scoped)
        signal = "content versions" if scoped else "data_version alone"
        label = f"mix, broadcast {args.broadcast:g} commits/s, {signal}"
        with LedgerWriter(args.db, args.broadcast) as writer:
            async with bots(url, app, feeder.clock, 1, limiter=args.limiter, services=services) as (
                ours,
                bare,
            ):
                await throughput(ours, feeder, mix[: args.warmup])
                ratios[label] = await compare_throughput(
                    ours, bare, feeder, mix, args.rounds, label
                )
        browse, subscribers = services
        print(
            f"  kept answers ({signal}): browse {browse.cache.stats}, subscribers "
            f"{subscribers.cache.stats}; the ledger writer: {writer.report}",
            flush=True,
        )


def commands_to_compare(mix: Sequence[str], n: int) -> list[tuple[str, list[str]]]:
    """The mix itself, then each of its commands alone (n updates each)."""
    found: list[tuple[str, list[str]]] = [("subscriber mix", list(mix))]
    for command, _weight in MIX_WEIGHTS:
        if command == "/search":
            label, each = "/search (popular queries)", [t for t in mix if "/search" in t]
        elif command == PRESS:
            label, each = "settings button", [t for t in mix if t.startswith(PRESS)]
        else:
            label, each = command, [command]
        found.append((label, [each[k % len(each)] for k in range(n)]))
    return found


def print_ratios(ratios: dict[str, tuple[float, float, float | None]]) -> None:
    print("ratios to the bare echo bot (wall: best round each; CPU: least CPU per command each,")
    print("the fake included, as wall time is on a quiet core) and what our layers leave of the")
    print("same replies sent by a bare bot (replay/ours, CPU):")
    for label, (wall, cpu, layers) in ratios.items():
        met = "/".join("ok" if r >= TARGET_RATIO else "NOT MET" for r in (wall, cpu))
        extra = f"  replay/ours {layers:4.0%}" if layers is not None else ""
        print(
            f"  {label:<46} wall {wall:4.0%}  CPU {cpu:4.0%}  (>= {TARGET_RATIO:.0%}: {met})"
            f"{extra}",
            flush=True,
        )


async def run(args: argparse.Namespace) -> None:
    print(f"server on {'its own thread' if args.server == 'thread' else 'the same event loop'}")
    await measure_memory(args.subscribers, args.tick_seconds)
    with tempfile.TemporaryDirectory(prefix="bench-cmd-") as tmp:
        folder: Path = args.keep or Path(tmp)  # main() created --keep
        db = folder / f"bench-{args.items}-{args.seed}.db"  # the name bench_search --keep uses
        args.db = db
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
    parser.add_argument(
        "--broadcast",
        type=float,
        default=50.0,
        help="also measure the mix while another process commits this many ledger-like "
        "writes a second (0: skip)",
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
