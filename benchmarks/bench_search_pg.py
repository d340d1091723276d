"""Search on PostgreSQL next to SQLite, on the same synthetic archive; and ``db copy`` speed.

    .venv/bin/python benchmarks/bench_search_pg.py                 # 100,000 items
    .venv/bin/python benchmarks/bench_search_pg.py --quick         # 3,000 items
    DIGESTBOT_BENCH_PG=postgresql://user@host/admin_db .venv/bin/python benchmarks/...

Builds the archive of ``bench_search.py`` (same generator, same query classes) on SQLite with
``upsert_issue``, moves it to a throw-away PostgreSQL database with ``digestbot db copy``'s
service (timed: rows per second, search index rebuild included), then times
``ArchiveService.search`` on both (p50/p95 per class; targets as on SQLite: p95 <= 10 ms for
3+ characters, <= 30 ms for 1-2 character CJK) and reports the PostgreSQL/SQLite ratio and
how often the two stores' top 10 overlap and their best hit agrees. Always exits 0; the
machine may be busy: run it twice and keep the quieter figures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from bench_search import build_archive, make_queries, pct, synthetic_issues
from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine, text

from bot.app import Container, build
from bot.clock import FrozenClock
from bot.config import load_settings
from bot.services import dbcopy
from bot.store.migrate import upgrade

ADMIN = os.environ.get("DIGESTBOT_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
TARGETS = {"3+ chars": 10.0, "1-2 char CJK": 30.0}


async def timings(app: Container, queries: Sequence[str], limit: int) -> list[float]:
    for q in queries[:5]:  # warm up
        await app.archive.search(q, limit=limit)
    out = []
    for q in queries:
        started = time.perf_counter()
        await app.archive.search(q, limit=limit)
        out.append((time.perf_counter() - started) * 1000)
    return out


async def top(app: Container, q: str, limit: int) -> list[tuple[str, str]]:
    return [(h.issue, h.headline) for h in (await app.archive.search(q, limit=limit)).hits]


async def run(n_items: int, per_class: int, limit: int, seed: int) -> None:
    console = Console()
    admin = create_engine(ADMIN, isolation_level="AUTOCOMMIT")
    name = f"digestbot_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    pg_url = ADMIN.rsplit("/", 1)[0].replace("postgresql+psycopg", "postgresql") + f"/{name}"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            sqlite_url = f"sqlite:///{Path(tmp) / 'bench.db'}"
            upgrade(sqlite_url)
            issues = list(synthetic_issues(n_items, seed))
            sqlite_app = build(load_settings(database_url=sqlite_url), FrozenClock(NOW))
            try:
                built = await build_archive(sqlite_app, issues)
            finally:
                await sqlite_app.aclose()
            started = time.perf_counter()
            report = dbcopy.copy_database(sqlite_url, pg_url)
            copied = time.perf_counter() - started
            console.print(
                f"{n_items:,} items: SQLite build {built:.1f} s; db copy to PostgreSQL "
                f"{copied:.1f} s ({report.rows:,} rows, {report.rows / copied:,.0f} rows/s, "
                "search index rebuild included)"
            )
            with create_engine(pg_url.replace("postgresql:", "postgresql+psycopg:")).connect() as c:
                c.execute(text("ANALYZE"))
            apps = {
                store: build(load_settings(database_url=url), FrozenClock(NOW))
                for store, url in (("sqlite", sqlite_url), ("postgres", pg_url))
            }
            try:
                await report_search(console, apps, make_queries(issues, per_class, seed), limit)
            finally:
                for app in apps.values():
                    await app.aclose()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


async def report_search(
    console: Console, apps: dict[str, Container], queries: dict[str, list[object]], limit: int
) -> None:
    table = Table(title=f"search, top {limit} (ms; targets apply to PostgreSQL as to SQLite)")
    for column in ("class", "queries", "SQLite p50", "SQLite p95", "PG p50", "PG p95"):
        table.add_column(column, justify="right")
    table.add_column("PG/SQLite p95", justify="right")
    table.add_column("target", justify="right")
    table.add_column("same best hit", justify="right")
    table.add_column("top-10 overlap", justify="right")
    for name, batch in queries.items():
        texts = [str(getattr(q, "text", q)) for q in batch]
        lite = await timings(apps["sqlite"], texts, limit)
        pg = await timings(apps["postgres"], texts, limit)
        same, overlap = [], []
        for q in texts:
            a, b = await top(apps["sqlite"], q, 10), await top(apps["postgres"], q, 10)
            same.append(a[:1] == b[:1])
            overlap.append(len(set(a) & set(b)) / max(1, len(a)))
        p95_lite, p95_pg = pct(lite, 95), pct(pg, 95)
        target = TARGETS.get(name, 10.0)
        table.add_row(
            name,
            str(len(texts)),
            f"{statistics.median(lite):.1f}",
            f"{p95_lite:.1f}",
            f"{statistics.median(pg):.1f}",
            f"{p95_pg:.1f}",
            f"{p95_pg / p95_lite:.1f}x" if p95_lite else "-",
            f"{target:.0f} ({'met' if p95_pg <= target else 'missed'})",
            f"{sum(same) / len(same):.0%}",
            f"{statistics.mean(overlap):.0%}",
        )
    console.print(table)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=100, help="per class")
    parser.add_argument("--limit", type=int, default=10)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="3,000 items, 20 queries per class")
    args = parser.parse_args(argv)
    if args.quick:
        args.items, args.queries = 3000, 20
    asyncio.run(run(args.items, args.queries, args.limit, args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
