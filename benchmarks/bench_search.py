"""Search latency on a large synthetic archive: ``ArchiveService.search`` vs a naive LIKE scan.

    .venv/bin/python benchmarks/bench_search.py            # 100,000 items, 200 queries/class
    .venv/bin/python benchmarks/bench_search.py --quick    # 3,000 items, 20 queries/class
    .venv/bin/python benchmarks/bench_search.py --keep /tmp/bench   # build once, then reuse

Builds a temporary, migrated SQLite archive with ``upsert_issue`` (large transactions), then
times in-process searches for two classes of queries (targets: p95 <= 10 ms for queries of
3+ characters, p95 <= 30 ms for 1-2 character CJK queries) and the same queries as a plain
``LIKE '%q%'`` scan over the items table.  Always exits 0: the targets are reported, not
enforced.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import _synthetic as synth
from rich.console import Console
from rich.table import Table
from sqlalchemy import event
from sqlalchemy.orm import Session

from bot.app import Container, build
from bot.clock import FrozenClock
from bot.config import load_settings
from bot.domain.model import ParsedIssue
from bot.domain.search import build_query
from bot.store.archive import VOCABULARY, index_stem_forms, upsert_issue
from bot.store.migrate import upgrade

TARGET_LONG_MS = 10.0
TARGET_SHORT_MS = 30.0
ISSUES_PER_TRANSACTION = 250
NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
START_YEAR = 1990  # 100,000 items need ~6,000 weekly issues: keys run 1990-W01 .. ~2105-W52


@dataclass(slots=True)
class Query:
    text: str
    kind: str  # english word, chinese 3-4, arxiv id, two words, cjk 1-2


@dataclass(slots=True)
class Timings:
    service: list[float] = field(default_factory=list)  # ms, ArchiveService.search
    raw: list[float] = field(default_factory=list)  # ms, the same SQL on plain sqlite3
    naive: list[float] = field(default_factory=list)  # ms, LIKE scan
    hits: list[int] = field(default_factory=list)
    matches: list[int] = field(default_factory=list)  # rows the FTS MATCH finds (ranked)


def pct(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


# ---------------------------------------------------------------- archive
def synthetic_issues(n_items: int, seed: int) -> Iterator[ParsedIssue]:
    """Issues with exactly ``n_items`` items in total (the last one is cut to fit)."""
    rng = random.Random(seed)
    total = 0
    for year, week in synth.weeks(10**6, START_YEAR):
        if total >= n_items:
            return
        remaining = n_items - total
        n = rng.randint(synth.MIN_ITEMS, synth.MAX_ITEMS)
        issue = synth.make_issue(rng, year, week, n_items=min(n, remaining)).to_parsed()
        total += len(issue.items)
        yield issue


async def build_archive(app: Container, issues: Sequence[ParsedIssue]) -> float:
    """Store the issues with upsert_issue, ISSUES_PER_TRANSACTION per transaction; seconds."""
    started = time.perf_counter()
    for first in range(0, len(issues), ISSUES_PER_TRANSACTION):
        with Session(app.sync_engine) as session, session.begin():
            for issue in issues[first : first + ISSUES_PER_TRANSACTION]:
                upsert_issue(session, issue, source=None, digest=issue.key, now=NOW)
    return time.perf_counter() - started


# ---------------------------------------------------------------- queries
def make_queries(
    issues: Sequence[ParsedIssue], per_class: int, seed: int
) -> dict[str, list[Query]]:
    rng = random.Random(seed + 1)
    papers = [item.paper or "" for issue in issues for item in issue.items]
    arxiv = [p.removeprefix("arxiv:") for p in papers if p.startswith("arxiv:")]
    pools: list[tuple[str, Sequence[str]]] = [
        ("english word", synth.QUERIES_EN),
        ("chinese 3-4 chars", synth.QUERIES_ZH_LONG),
        ("arxiv id", arxiv),
        ("two words", synth.QUERIES_EN_TWO_WORDS),
    ]
    long = [Query(rng.choice(pools[n % 4][1]), pools[n % 4][0]) for n in range(per_class)]
    short = [Query(rng.choice(synth.QUERIES_CJK_SHORT), "cjk 1-2 chars") for _ in range(per_class)]
    return {"3+ chars": long, "1-2 char CJK": short}


def naive_sql(text: str) -> tuple[str, list[str]]:
    """``headline LIKE '%q%' OR title LIKE '%q%' OR summary LIKE '%q%'`` per word, AND-ed."""
    words = text.split()
    where = " AND ".join("(headline LIKE ? OR title LIKE ? OR summary LIKE ?)" for _ in words)
    params = [f"%{w}%" for w in words for _ in range(3)]
    sql = f"SELECT id, headline, title, summary FROM items WHERE {where} ORDER BY id LIMIT 10"
    return sql, params


def fts_matches(app: Container, conn: sqlite3.Connection, text: str) -> int:
    """Rows the word index matches (the index every search asks first), stem forms included."""
    query = build_query(text, 200)
    if query.mode == "empty":
        return 0
    with Session(app.sync_engine) as session:
        match = query.word_match(index_stem_forms(session, query))
    sql = "SELECT count(*) FROM items_short WHERE items_short MATCH ?"
    return int(conn.execute(sql, (match,)).fetchone()[0])


class SqlCapture:
    """Remembers the SELECTs of the last search (to replay them on plain sqlite3). Search runs
    on the sync engine in a worker thread, so that is the engine to listen on."""

    def __init__(self, app: Container) -> None:
        self.statements: list[tuple[str, Any]] = []
        event.listen(app.sync_engine, "before_cursor_execute", self._seen)

    def reset(self) -> None:
        self.statements = []

    @property
    def statement(self) -> str:
        return self.statements[0][0] if self.statements else "SELECT 1"

    @property
    def parameters(self) -> Any:
        return self.statements[0][1] if self.statements else ()

    def _seen(self, _conn: Any, _cur: Any, statement: str, params: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            self.statements.append((statement, params))


def timed(conn: sqlite3.Connection, sql: str, params: Any) -> float:
    started = time.perf_counter()
    conn.execute(sql, params).fetchall()
    return (time.perf_counter() - started) * 1000


async def measure(
    app: Container, db: Path, queries: dict[str, list[Query]], warmup: int
) -> tuple[dict[str, Timings], dict[str, Timings], dict[str, str]]:
    capture = SqlCapture(app)
    conn = sqlite3.connect(db)
    vocabulary = f"CREATE VIRTUAL TABLE {VOCABULARY} USING fts5vocab(main, items_short, row)"
    conn.execute(vocabulary)  # the search's stem look-ups read it (replayed below)
    by_class: dict[str, Timings] = {}
    by_kind: dict[str, Timings] = {}
    plans: dict[str, str] = {}
    try:
        for name, batch in queries.items():
            for q in batch[:warmup]:  # warm the pool, the page cache and SQLAlchemy's caches
                await app.archive.search(q.text)
                conn.execute(*naive_sql(q.text)).fetchall()
            timings = by_class.setdefault(name, Timings())
            for q in batch:
                capture.reset()
                started = time.perf_counter()
                result = await app.archive.search(q.text)
                ms = (time.perf_counter() - started) * 1000
                raw = sum(timed(conn, sql, params) for sql, params in capture.statements)
                naive = timed(conn, *naive_sql(q.text))
                matches = fts_matches(app, conn, q.text)
                for t in (timings, by_kind.setdefault(q.kind, Timings())):
                    t.service.append(ms)
                    t.raw.append(raw)
                    t.naive.append(naive)
                    t.hits.append(len(result.hits))
                    t.matches.append(matches)
            slowest = max(range(len(batch)), key=lambda n: timings.service[n])
            capture.reset()
            await app.archive.search(batch[slowest].text)
            rows = conn.execute(
                f"EXPLAIN QUERY PLAN {capture.statement}", capture.parameters
            ).fetchall()
            plans[name] = f"{batch[slowest].text!r}: " + " | ".join(str(r[-1]) for r in rows)
    finally:
        conn.close()
    return by_class, by_kind, plans


# ---------------------------------------------------------------- report
def fmt(ms: float) -> str:
    return f"{ms:.2f}"


def report(
    console: Console,
    *,
    n_items: int,
    n_issues: int,
    gen_s: float,
    build_s: float,
    db_bytes: int,
    by_class: dict[str, Timings],
    by_kind: dict[str, Timings],
    plans: dict[str, str],
) -> None:
    built = (
        f"build (upsert_issue) {build_s:.1f} s = {n_items / build_s:,.0f} items/s"
        if build_s
        else "reused (--keep)"
    )
    console.print(
        f"archive: {n_items:,} items in {n_issues:,} issues | generate {gen_s:.1f} s | "
        f"{built} | db {db_bytes / 2**20:.0f} MiB"
    )
    main = Table(title="ArchiveService.search vs naive LIKE scan (ms)")
    for col in (
        "class",
        "n",
        "p50",
        "p95",
        "max",
        "target p95",
        "ok",
        "raw SQL p50",
        "raw SQL p95",
        "naive p50",
        "naive p95",
        "speed-up p50",
        "speed-up p95",
    ):
        main.add_column(col, justify="left" if col == "class" else "right")
    targets = {"3+ chars": TARGET_LONG_MS, "1-2 char CJK": TARGET_SHORT_MS}
    for name, t in by_class.items():
        p95 = pct(t.service, 95)
        main.add_row(
            name,
            str(len(t.service)),
            fmt(pct(t.service, 50)),
            fmt(p95),
            fmt(max(t.service)),
            f"<= {targets[name]:.0f}",
            "yes" if p95 <= targets[name] else "NO",
            fmt(pct(t.raw, 50)),
            fmt(pct(t.raw, 95)),
            fmt(pct(t.naive, 50)),
            fmt(pct(t.naive, 95)),
            f"{pct(t.naive, 50) / pct(t.service, 50):.1f}x",
            f"{pct(t.naive, 95) / p95:.1f}x",
        )
    console.print(main)
    kinds = Table(title="by query kind (ms; matches = rows the FTS MATCH ranks)")
    for col in (
        "kind",
        "n",
        "p50",
        "p95",
        "max",
        "raw SQL p95",
        "naive p95",
        "median matches",
        "max matches",
        "mean hits",
    ):
        kinds.add_column(col, justify="left" if col == "kind" else "right")
    for kind, t in by_kind.items():
        kinds.add_row(
            kind,
            str(len(t.service)),
            fmt(pct(t.service, 50)),
            fmt(pct(t.service, 95)),
            fmt(max(t.service)),
            fmt(pct(t.raw, 95)),
            fmt(pct(t.naive, 95)),
            f"{statistics.median(t.matches):,.0f}",
            f"{max(t.matches):,}",
            f"{statistics.fmean(t.hits):.1f}",
        )
    console.print(kinds)
    for name, plan in plans.items():
        console.print(f"plan of the slowest {name} query {plan}", soft_wrap=True)


async def run(n_items: int, per_class: int, warmup: int, seed: int, keep: Path | None) -> None:
    console = Console(width=None if sys.stdout.isatty() else 160)
    started = time.perf_counter()
    issues = list(synthetic_issues(n_items, seed))
    gen_s = time.perf_counter() - started
    with tempfile.TemporaryDirectory(prefix="bench-search-") as tmp:
        folder = keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        db = folder / f"bench-{n_items}-{seed}.db"
        reuse = db.exists()  # only with --keep: a finished archive of the same size and seed
        url = f"sqlite:///{db}"
        upgrade(url)
        app = build(load_settings(database_url=url), FrozenClock(NOW))
        try:
            build_s = 0.0 if reuse else await build_archive(app, issues)
            queries = make_queries(issues, per_class, seed)
            by_class, by_kind, plans = await measure(app, db, queries, warmup)
        except BaseException:
            db.unlink(missing_ok=True)  # never reuse a half-built archive
            raise
        finally:
            await app.aclose()
        db_bytes = sum(p.stat().st_size for p in folder.glob(f"{db.name}*"))  # with -wal
    report(
        console,
        n_items=n_items,
        n_issues=len(issues),
        gen_s=gen_s,
        build_s=build_s,
        db_bytes=db_bytes,
        by_class=by_class,
        by_kind=by_kind,
        plans=plans,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=100_000, help="archive size (items)")
    parser.add_argument("--queries", type=int, default=200, help="timed queries per class")
    parser.add_argument("--warmup", type=int, default=20, help="untimed queries per class first")
    parser.add_argument("--seed", type=int, default=synth.DEFAULT_SEED)
    parser.add_argument("--quick", action="store_true", help="3,000 items, 20 queries per class")
    parser.add_argument(
        "--keep", type=Path, help="build the archive in this folder once and reuse it later"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.items, args.queries, args.warmup = 3_000, 20, 5
    asyncio.run(run(args.items, args.queries, args.warmup, args.seed, args.keep))
    return 0


if __name__ == "__main__":
    sys.exit(main())
