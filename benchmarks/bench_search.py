"""Search over large synthetic archives: latency, and agreement with bm25 over the whole archive.

    .venv/bin/python benchmarks/bench_search.py            # 100,000 and 300,000 items
    .venv/bin/python benchmarks/bench_search.py --items 100000 --queries 100
    .venv/bin/python benchmarks/bench_search.py --quick    # 3,000 items, 20 queries/class
    .venv/bin/python benchmarks/bench_search.py --keep /tmp/bench   # build once, then reuse

Builds each archive with ``upsert_issue`` (large transactions; the word counts and impact
lists of ``bot.store.search_rank`` are kept on the way, so the build time includes them), then
for two classes of queries (targets: p95 <= 10 ms for queries of 3+ characters, p95 <= 30 ms
for 1-2 character CJK queries) times ``ArchiveService.search`` (wall and CPU time: on a busy
machine the CPU time of the process is the steadier figure) and the same search on a plain
sqlite3 connection (the fast command line path), and compares the top 10 with an exact bm25
ranking of every match (FTS5's ``bm25()`` without any cap): overlap@10 and identical order,
for today's ranking and for the old one (bm25 over the newest 500 matches only). The exact
ranking and a naive ``LIKE '%q%'`` scan are timed too. Always exits 0: the targets are
reported, not enforced. The machine may be busy: run it twice and keep the quieter figures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
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
from sqlalchemy.orm import Session

from bot.app import Container, build
from bot.clock import FrozenClock
from bot.config import load_settings
from bot.domain.model import ParsedIssue, SearchFilters
from bot.domain.search import FtsQuery, build_query
from bot.store import search_rank, search_sqlite
from bot.store.archive import upsert_issue
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
    cpu: list[float] = field(default_factory=list)  # CPU ms of the same (whole process)
    plain: list[float] = field(default_factory=list)  # ms, search_sqlite.search_items on sqlite3
    exact: list[float] = field(default_factory=list)  # ms, FTS5 bm25 over every match
    naive: list[float] = field(default_factory=list)  # ms, LIKE scan
    overlap: list[float] = field(default_factory=list)  # top-10 overlap with the exact ranking
    same: list[bool] = field(default_factory=list)  # top 10 in the exact ranking's order
    old_overlap: list[float] = field(default_factory=list)  # the newest-500 ranking's overlap
    listed: list[bool] = field(default_factory=list)  # the impact lists decided (not FTS5)
    hits: list[int] = field(default_factory=list)
    matches: list[int] = field(default_factory=list)  # rows the word-index MATCH finds


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


def word_match(conn: sqlite3.Connection, query: FtsQuery) -> tuple[str, dict[str, Any]]:
    forms = search_sqlite.index_stem_forms(conn, {}, query)
    return query.word_match(forms), forms


def agreement(conn: sqlite3.Connection, text: str, t: Timings) -> None:
    """Top 10 of today's ranking and of the old newest-500 one against FTS5's bm25 over
    every match (the word index; the trigram top-up only adds items after these)."""
    query = build_query(text, 200)
    if query.mode == "empty":
        return
    match, forms = word_match(conn, query)
    none = SearchFilters()
    started = time.perf_counter()
    exact = search_sqlite._fts_top(conn, "items_short", match, none, 10)
    t.exact.append((time.perf_counter() - started) * 1000)
    mine = search_sqlite._fts_ranked_ids(conn, query, forms, none, 10, False)
    old = search_sqlite._fts_top(conn, "items_short", match, none, 10, cap=500)
    listed = search_rank.top_ids(conn, query, forms, none, 10, False)
    want = set(exact)
    t.overlap.append(len(want & set(mine)) / len(want) if want else 1.0)
    t.same.append(mine[: len(exact)] == exact)
    t.old_overlap.append(len(want & set(old)) / len(want) if want else 1.0)
    t.listed.append(listed is not None)
    t.matches.append(
        int(
            conn.execute(
                "SELECT count(*) FROM items_short WHERE items_short MATCH ?", (match,)
            ).fetchone()[0]
        )
    )


def timed(conn: sqlite3.Connection, sql: str, params: Any) -> float:
    started = time.perf_counter()
    conn.execute(sql, params).fetchall()
    return (time.perf_counter() - started) * 1000


async def measure(
    app: Container, db: Path, queries: dict[str, list[Query]], warmup: int, limit: int
) -> tuple[dict[str, Timings], dict[str, Timings]]:
    conn = sqlite3.connect(db)
    cache: dict[str, Any] = {}
    by_class: dict[str, Timings] = {}
    by_kind: dict[str, Timings] = {}
    try:
        for name, batch in queries.items():
            for q in batch[:warmup]:  # warm the pool, the page cache and the caches
                await app.archive.search(q.text, limit=limit)
                plain_search(conn, cache, q.text, limit)
            timings = by_class.setdefault(name, Timings())
            for q in batch:
                kind = by_kind.setdefault(q.kind, Timings())
                started, cpu = time.perf_counter(), time.process_time()
                result = await app.archive.search(q.text, limit=limit)
                ms = (time.perf_counter() - started) * 1000
                cpu_ms = (time.process_time() - cpu) * 1000
                started = time.perf_counter()
                plain_search(conn, cache, q.text, limit)
                plain = (time.perf_counter() - started) * 1000
                naive = timed(conn, *naive_sql(q.text))
                one = Timings([ms], [cpu_ms], [plain], naive=[naive], hits=[len(result.hits)])
                agreement(conn, q.text, one)
                for t in (timings, kind):
                    for name_ in Timings.__slots__:
                        getattr(t, name_).extend(getattr(one, name_))
    finally:
        conn.close()
    return by_class, by_kind


def plain_search(conn: sqlite3.Connection, cache: dict[str, Any], text: str, limit: int) -> None:
    """The search on a plain sqlite3 connection, as the fast command line path runs it."""
    query = build_query(text, 200)
    if search_sqlite.search_items(conn, cache, query, SearchFilters(), limit):
        return
    search_sqlite.search_items(conn, cache, query, SearchFilters(), limit, any_term=True)


# ---------------------------------------------------------------- report
def fmt(ms: float) -> str:
    return f"{ms:.2f}"


def share(values: Sequence[bool] | Sequence[float]) -> str:
    return f"{100 * statistics.fmean(values):.0f}%" if values else "-"


def report(
    console: Console,
    *,
    n_items: int,
    n_issues: int,
    gen_s: float,
    build_s: float,
    db_bytes: int,
    index_rows: tuple[int, int],
    by_class: dict[str, Timings],
    by_kind: dict[str, Timings],
) -> None:
    built = (
        f"build (upsert_issue) {build_s:.1f} s = {n_items / build_s:,.0f} items/s"
        if build_s
        else "reused (--keep)"
    )
    console.print(
        f"archive: {n_items:,} items in {n_issues:,} issues | generate {gen_s:.1f} s | "
        f"{built} | db {db_bytes / 2**20:.0f} MiB | impact lists: {index_rows[1]:,} rows "
        f"for {index_rows[0]:,} common words"
    )
    main = Table(title=f"{n_items:,} items: search latency (ms) and agreement with full bm25")
    for col in (
        "class",
        "n",
        "p50",
        "p95",
        "max",
        "target p95",
        "ok",
        "cpu p50",
        "cpu p95",
        "sqlite3 p50",
        "sqlite3 p95",
        "full bm25 p95",
        "naive p95",
        "overlap@10",
        "same top 10",
        "old overlap@10",
        "lists decided",
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
            fmt(pct(t.cpu, 50)),
            fmt(pct(t.cpu, 95)),
            fmt(pct(t.plain, 50)),
            fmt(pct(t.plain, 95)),
            fmt(pct(t.exact, 95)),
            fmt(pct(t.naive, 95)),
            f"{statistics.fmean(t.overlap):.3f}",
            share(t.same),
            f"{statistics.fmean(t.old_overlap):.3f}",
            share(t.listed),
        )
    console.print(main)
    kinds = Table(title="by query kind (ms; matches = rows the word-index MATCH finds)")
    for col in (
        "kind",
        "n",
        "p50",
        "p95",
        "max",
        "cpu p50",
        "cpu p95",
        "sqlite3 p95",
        "full bm25 p95",
        "median matches",
        "max matches",
        "overlap@10",
        "old overlap@10",
        "lists decided",
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
            fmt(pct(t.cpu, 50)),
            fmt(pct(t.cpu, 95)),
            fmt(pct(t.plain, 95)),
            fmt(pct(t.exact, 95)),
            f"{statistics.median(t.matches):,.0f}",
            f"{max(t.matches):,}",
            f"{statistics.fmean(t.overlap):.3f}",
            f"{statistics.fmean(t.old_overlap):.3f}",
            share(t.listed),
            f"{statistics.fmean(t.hits):.1f}",
        )
    console.print(kinds)


async def run(
    n_items: int, per_class: int, warmup: int, seed: int, keep: Path | None, limit: int
) -> None:
    console = Console(width=None if sys.stdout.isatty() else 200)
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
            load_before = os.getloadavg()
            by_class, by_kind = await measure(app, db, queries, warmup, limit)
            load_after = os.getloadavg()
        except BaseException:
            db.unlink(missing_ok=True)  # never reuse a half-built archive
            raise
        finally:
            await app.aclose()
        with sqlite3.connect(db) as conn:
            index_rows = (
                conn.execute(
                    f"SELECT count(*) FROM {search_rank.TERMS} WHERE floor IS NOT NULL"
                ).fetchone()[0],
                conn.execute(f"SELECT count(*) FROM {search_rank.IMPACTS}").fetchone()[0],
            )
        conn.close()
        db_bytes = sum(p.stat().st_size for p in folder.glob(f"{db.name}*"))  # with -wal
    report(
        console,
        n_items=n_items,
        n_issues=len(issues),
        gen_s=gen_s,
        build_s=build_s,
        db_bytes=db_bytes,
        index_rows=index_rows,
        by_class=by_class,
        by_kind=by_kind,
    )
    console.print(  # other sessions may share the machine: wall times grow with the load
        "load average (1/5/15 min) before the timed searches "
        f"{' / '.join(f'{v:.2f}' for v in load_before)}, after "
        f"{' / '.join(f'{v:.2f}' for v in load_after)} ({os.cpu_count()} CPUs)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument(
        "--items", type=int, nargs="+", default=[100_000, 300_000], help="archive sizes (items)"
    )
    parser.add_argument("--queries", type=int, default=200, help="timed queries per class")
    parser.add_argument("--warmup", type=int, default=20, help="untimed queries per class first")
    parser.add_argument("--limit", type=int, default=10, help="results per search")
    parser.add_argument("--seed", type=int, default=synth.DEFAULT_SEED)
    parser.add_argument("--quick", action="store_true", help="3,000 items, 20 queries per class")
    parser.add_argument(
        "--keep", type=Path, help="build the archives in this folder once and reuse them later"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.items, args.queries, args.warmup = [3_000], 20, 5
    for n_items in args.items:
        asyncio.run(run(n_items, args.queries, args.warmup, args.seed, args.keep, args.limit))
    return 0


if __name__ == "__main__":
    sys.exit(main())
