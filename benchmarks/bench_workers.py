"""Broadcast throughput with 1, 2 and 4 worker processes on PostgreSQL, against the fake Bot API
(in a process of its own) with the paid-broadcast limit (1,000 msg/s).

    .venv/bin/python benchmarks/bench_workers.py                  # 10,000 subscribers, 1/2/4
    .venv/bin/python benchmarks/bench_workers.py --quick          # 400 subscribers (smoke test)
    .venv/bin/python benchmarks/bench_workers.py --workers 4 --repeat 3
    DIGESTBOT_BENCH_PG=postgresql+psycopg://user@host/admin_db .venv/bin/python benchmarks/...

For each worker count: a fresh PostgreSQL database with one drip post released to N
subscribers (N pending deliveries), then that many ``digestbot dispatch --once`` processes
started together (``telegram.messages_per_second = 1000``: batches claimed with the database
pace, ``allow_paid_broadcast`` set), each sending until nothing is left. Printed per run:
messages a second sustained at the fake (between its 5th and 95th percentile arrival), the
whole run's rate (process start-up included), the workers' CPU per delivery (user + system,
all processes: the per-delivery overhead, start-up included), PostgreSQL's commits and rows
updated per delivery (``pg_stat_database``: work that does not depend on the machine's load),
the fake's 429s (limit violations) and the messages beyond one per subscriber. The machine's
load average is printed with each figure. Figures only: the script always exits 0 (and says
so when PostgreSQL does not answer).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.app import build
from bot.clock import FrozenClock
from bot.config import load_settings
from bot.sandbox import ServerThread, TelegramState, make_telegram_app
from bot.store.migrate import upgrade
from tests.builders import TELEGRAM_TOKEN, add_subscribers, item, store, weekly

ADMIN = os.environ.get("DIGESTBOT_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
DIGESTBOT = Path(sys.executable).with_name("digestbot")
FIRST = 2_000_000
PAID = 1000
PAST = datetime(2026, 1, 5, tzinfo=UTC)


# --- the fake Bot API in a process of its own ------------------------------------------------


def serve(conn: Connection, n: int) -> None:
    """Serve the fake (paid limit 1,000/s, 1/s per chat, on the real clock) until told; send
    back (chat ids of the accepted messages, their arrival times, 429s given)."""
    state = TelegramState(users=set(range(FIRST, FIRST + n)))
    arrivals: list[float] = []
    record = state.limiter.record

    def stamp(chat_id: int, now: float) -> None:
        arrivals.append(time.perf_counter())  # CLOCK_MONOTONIC: comparable across processes
        record(chat_id, now)

    state.limiter.record = stamp  # type: ignore[method-assign]
    with ServerThread(make_telegram_app(state)) as url:
        conn.send(url)
        conn.recv()
    chats = [m.chat_id for m in state.sent]
    conn.send((chats, arrivals, len([r for r in state.rejected if r.error_code == 429])))


# --- one run --------------------------------------------------------------------------------


@dataclass
class Result:
    workers: int
    sent: int
    extra: int
    refused: int
    sustained: float
    whole: float
    seconds: float
    cpu_ms: float
    commits: float
    updated: float
    load: str
    left: str  # deliveries not sent when every worker had exited, by state


def leftovers(url: str) -> str:
    """Deliveries not sent, by state (empty when all were sent)."""
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT state, count(*) FROM deliveries WHERE state <> 'sent' "
                    "GROUP BY state ORDER BY state"
                )
            ).all()
    finally:
        engine.dispose()
    return ", ".join(f"{count} {state}" for state, count in rows)


def steady_rate(times: list[float]) -> float:
    if len(times) < 20:
        return 0.0
    ordered = sorted(times)
    low, high = len(ordered) * 5 // 100, len(ordered) * 95 // 100
    span = ordered[high] - ordered[low]
    return (high - low) / span if span > 0 else 0.0


def pg_url_for(name: str) -> str:
    return ADMIN.rsplit("/", 1)[0].replace("postgresql+psycopg", "postgresql") + f"/{name}"


def pg_stats(name: str) -> tuple[int, int]:
    """(commits, rows updated) of database ``name`` so far."""
    engine = create_engine(ADMIN, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_stat_clear_snapshot()"))
            row = conn.execute(
                text("SELECT xact_commit, tup_updated FROM pg_stat_database WHERE datname = :n"),
                {"n": name},
            ).one()
        return int(row[0]), int(row[1])
    finally:
        engine.dispose()


async def prepare(url: str, api: str, n: int) -> None:
    """One drip post released to ``n`` subscribers: ``n`` pending deliveries."""
    settings = load_settings(database_url=url)
    section = {"token": SecretStr(TELEGRAM_TOKEN), "api_base_url": api}
    settings = settings.model_copy(
        update={"telegram": settings.telegram.model_copy(update=section)}
    )
    app = build(settings, FrozenClock(PAST))
    try:
        await store(app, weekly("2026-W02", [item(1, "Broadcast.", arxiv="2601.00001")]))
        await app.queue.enqueue_issues(["2026-W02"])
        await add_subscribers(app, range(FIRST, FIRST + n), PAST, receive="drip")
        released = await app.dispatcher().release_due(datetime(2026, 1, 6, tzinfo=UTC))
        assert released, "the post was not released"
    finally:
        await app.aclose()


def start_worker(url: str, api: str, cwd: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGESTBOT_")}
    env.update(
        DIGESTBOT_DATABASE_URL=url,
        DIGESTBOT_TELEGRAM__TOKEN=TELEGRAM_TOKEN,
        DIGESTBOT_TELEGRAM__API_BASE_URL=api,
        DIGESTBOT_TELEGRAM__MESSAGES_PER_SECOND=str(PAID),
        DIGESTBOT_LOG_FILE=str(cwd / "digestbot.log"),
        DIGESTBOT_LOG_LEVEL="WARNING",
        NO_COLOR="1",
    )
    return subprocess.Popen(
        [str(DIGESTBOT), "dispatch", "--once", "--json"],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def wait_all(procs: list[subprocess.Popen[bytes]]) -> float:
    """Reap every worker; their CPU seconds (user + system) from the kernel's accounting."""
    cpu = 0.0
    for proc in procs:
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        cpu += usage.ru_utime + usage.ru_stime
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        if proc.returncode not in (0, 1):
            print(f"  a worker exited {proc.returncode}: {err[-500:]}", flush=True)
        if proc.stderr:
            proc.stderr.close()
    return cpu


def one_run(workers: int, n: int, tmp: Path) -> Result:
    name = f"digestbot_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = pg_url_for(name)
    context = multiprocessing.get_context("spawn")
    here, child = context.Pipe()
    fake = context.Process(target=serve, args=(child, n), daemon=True)
    fake.start()
    try:
        api: str = here.recv()
        upgrade(url)
        asyncio.run(prepare(url, api, n))
        before = pg_stats(name)
        started = time.perf_counter()
        procs = [start_worker(url, api, tmp) for _ in range(workers)]
        cpu = wait_all(procs)
        seconds = time.perf_counter() - started
        time.sleep(0.6)  # the statistics collector's flush
        after = pg_stats(name)
        left = leftovers(url)
        here.send("done")
        chats, arrivals, refused = here.recv()
        fake.join(timeout=30)
    finally:
        if fake.is_alive():
            fake.kill()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    per_chat = Counter(chats)
    sent = len(per_chat)
    return Result(
        workers=workers,
        sent=sent,
        extra=sum(per_chat.values()) - sent,
        refused=refused,
        sustained=steady_rate(arrivals),
        whole=sent / seconds,
        seconds=seconds,
        cpu_ms=1000 * cpu / max(sent, 1),
        commits=(after[0] - before[0]) / max(sent, 1),
        updated=(after[1] - before[1]) / max(sent, 1),
        load=" ".join(Path("/proc/loadavg").read_text().split()[:3]),
        left=left,
    )


def show(r: Result, n: int) -> None:
    missing = n - r.sent
    print(
        f"{r.workers} worker(s): {r.sent:>6,} sent in {r.seconds:6.1f} s: "
        f"sustained {r.sustained:7.1f} msg/s ({r.sustained / PAID:5.1%} of {PAID}/s), "
        f"whole run {r.whole:7.1f} msg/s; per delivery {r.cpu_ms:5.2f} ms CPU (workers), "
        f"{r.commits:4.2f} commits, {r.updated:4.2f} rows updated; "
        f"{r.refused} limit violations, {r.extra} extra, {missing} missing"
        f"{f' (left: {r.left})' if r.left else ''}; load {r.load}",
        flush=True,
    )


def reachable() -> str | None:
    try:
        engine = create_engine(ADMIN)
        with engine.connect():
            pass
        engine.dispose()
    except Exception as exc:  # the service is optional on developer machines
        return f"{type(exc).__name__}"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--workers", type=int, action="append", default=[])
    parser.add_argument("--repeat", type=int, default=1, help="runs per worker count (median)")
    parser.add_argument("--quick", action="store_true", help="400 subscribers, one run each")
    args = parser.parse_args(argv)
    n = 400 if args.quick else args.subscribers
    counts = args.workers or [1, 2, 4]
    problem = reachable()
    if problem is not None:
        print(f"PostgreSQL not reachable at {ADMIN.split('@')[-1]} ({problem}): skipped")
        return 0
    print(
        f"{n:,} subscribers, one post, paid broadcast ({PAID} msg/s), PostgreSQL, "
        f"`digestbot dispatch --once` processes; the fake in its own process",
        flush=True,
    )
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        for workers in counts:
            results = [one_run(workers, n, Path(tmp)) for _ in range(args.repeat)]
            for result in results:
                show(result, n)
            if len(results) > 1:
                rates = [r.sustained for r in results]
                cpu = [r.cpu_ms for r in results]
                print(
                    f"  median of {len(results)}: sustained {statistics.median(rates):.1f} "
                    f"msg/s, {statistics.median(cpu):.2f} ms CPU per delivery",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
