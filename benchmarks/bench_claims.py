"""Claims a second: 1 and 4 worker processes reserving one broadcast's deliveries at once on
PostgreSQL (``TelegramPace.reserve``: the ``telegram-pace`` lock, the batch picked ``FOR UPDATE
SKIP LOCKED``, slots planned, one ``UPDATE ... RETURNING``), what the broadcaster does before
it sends.

    .venv/bin/python benchmarks/bench_claims.py                       # 6,000 deliveries
    .venv/bin/python benchmarks/bench_claims.py --deliveries 2000 --repeat 1
    .venv/bin/python benchmarks/bench_claims.py --url sqlite:////tmp/claims.db   # for reference
    .venv/bin/python benchmarks/bench_claims.py --quick                  # 600 deliveries, once

Each run gets a fresh database (PostgreSQL: created on the local service and dropped after;
``DIGESTBOT_TEST_PG`` names the admin database). Time is simulated per process: a worker's clock
moves to the last slot it was granted, as the broadcaster's does while it sends (so the pace
reads about a second of slots, not a growing future), which measures the claiming and not the
waiting. Printed per run: claims a second (all processes, from the common start to the last
claim), reserving transactions and claims per transaction, and the machine's load. Two paces:
Telegram's 30 msg/s (batches of 15) and the paid broadcast's 1,000 msg/s (batches of 500).
Figures only: the script always exits 0.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from multiprocessing.synchronize import Barrier
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine, insert, text
from sqlalchemy.orm import sessionmaker

from bot.services.broadcast import batch_size
from bot.services.pace import TelegramPace
from bot.store.db import make_sync_engine
from bot.store.migrate import upgrade
from bot.store.models import Delivery, Post

ADMIN = os.environ.get("DIGESTBOT_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def fresh_pg() -> tuple[str, str]:
    name = f"bench_claims_{uuid.uuid4().hex[:8]}"
    admin = create_engine(ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return ADMIN.rsplit("/", 1)[0].replace("postgresql+psycopg", "postgresql") + f"/{name}", name


def drop_pg(name: str) -> None:
    admin = create_engine(ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def seed(url: str, n: int) -> None:
    upgrade(url)
    engine = make_sync_engine(url)
    with engine.begin() as conn:
        post_id = conn.execute(
            insert(Post)
            .values(
                kind="paper",
                text="A comment.",
                rank=1,
                slot=NOW,
                state="sending",
                created_at=NOW,
                updated_at=NOW,
            )
            .returning(Post.id)
        ).scalar_one()
        rows = [
            {
                "post_id": post_id,
                "destination": f"telegram:{800_000 + i}",
                "state": "pending",
                "attempts": 0,
                "due_at": NOW,
                "duplicates": 0,
                "updated_at": NOW,
            }
            for i in range(n)
        ]
        conn.execute(insert(Delivery), rows)
    engine.dispose()


def worker(url: str, per_second: int, start: Barrier, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    engine = make_sync_engine(url)
    sessions = sessionmaker(engine, expire_on_commit=False)
    pace = TelegramPace(per_second=per_second)
    with sessions() as session:  # connect before the clock starts
        session.execute(text("SELECT 1"))
    mine: set[int] = set()
    now = NOW
    claims = transactions = 0
    start.wait()
    for _ in range(1_000_000):
        with sessions.begin() as session:
            result = pace.reserve(session, now, 120.0, limit=batch_size(per_second), own=mine)
        transactions += 1
        claims += len(result.claimed)
        mine.update(row.id for row, _ in result.claimed)
        if result.claimed:
            now = max(now, max(at for _, at in result.claimed))  # sending up to its slots
        elif not result.lost:
            break
    out.put((claims, transactions, time.perf_counter()))
    engine.dispose()


def run(url: str, processes: int, per_second: int) -> tuple[float, int, int]:
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(processes + 1)
    out = ctx.Queue()
    procs = [
        ctx.Process(target=worker, args=(url, per_second, start, out)) for _ in range(processes)
    ]
    for proc in procs:
        proc.start()
    start.wait()
    began = time.perf_counter()
    results = [out.get(timeout=600) for _ in procs]
    for proc in procs:
        proc.join()
    claims = sum(r[0] for r in results)
    transactions = sum(r[1] for r in results)
    ended = max(r[2] for r in results)
    return claims / (ended - began), claims, transactions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=6000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--url", help="a database to use instead of a fresh PostgreSQL one")
    parser.add_argument("--quick", action="store_true", help="600 deliveries, one run each")
    args = parser.parse_args()
    if args.quick:
        args.deliveries, args.repeat = 600, 1
    if not args.url:
        try:
            drop_pg("bench_claims_probe")
        except Exception as exc:  # the service is optional on developer machines
            where = ADMIN.split("@")[-1]
            print(f"PostgreSQL not reachable at {where} ({exc.__class__.__name__}): skipped")
            return
    for per_second in (30, 1000):
        for processes in (1, 4):
            rates: list[float] = []
            detail = ""
            for _ in range(args.repeat):
                name = None
                if args.url:
                    url = args.url
                    if url.startswith("sqlite:///"):
                        Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True)
                else:
                    url, name = fresh_pg()
                try:
                    seed(url, args.deliveries)
                    load = Path("/proc/loadavg").read_text().split()[0]
                    rate, claims, transactions = run(url, processes, per_second)
                finally:
                    if name is not None:
                        drop_pg(name)
                assert claims == args.deliveries, (claims, args.deliveries)
                rates.append(rate)
                detail = (
                    f"{transactions} transactions, {claims / transactions:.1f} claims each, "
                    f"load {load}"
                )
            print(
                f"pace {per_second:>4}/s  {processes} process{'es' if processes > 1 else '  '}  "
                f"{statistics.median(rates):8.0f} claims/s (median of {len(rates)}: "
                f"{', '.join(f'{r:.0f}' for r in rates)}); last run: {detail}",
                flush=True,
            )


if __name__ == "__main__":
    main()
