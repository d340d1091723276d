"""Search on PostgreSQL next to SQLite, on the same synthetic archive; and ``db copy`` speed.

    .venv/bin/python benchmarks/bench_search_pg.py                 # 100,000 items
    .venv/bin/python benchmarks/bench_search_pg.py --quick         # 3,000 items
    .venv/bin/python benchmarks/bench_search_pg.py --keep /tmp/pgb  # build once, then reuse
    .venv/bin/python benchmarks/bench_search_pg.py --slowest 10     # and PostgreSQL's slowest
    DIGESTBOT_BENCH_PG=postgresql://user@host/admin_db .venv/bin/python benchmarks/...

Builds the archive of ``bench_search.py`` (same generator, same query classes) on SQLite with
``upsert_issue``, moves it to a throw-away PostgreSQL database with ``digestbot db copy``'s
service (timed: rows per second, search index rebuild included), then times
``ArchiveService.search`` on both (p50/p95 per class and per kind of query; targets as on
SQLite: p95 <= 10 ms for 3+ characters, <= 30 ms for 1-2 character CJK) and reports the
PostgreSQL/SQLite ratio, how often the two stores' best hit and whole top 10 (in order) agree,
their mean top-10 overlap (overlap@10), and the SQL statements PostgreSQL ran per search (work
that does not depend on the machine's load); next to the wall times, the mean CPU per search of
this process (``time.process_time``) and of the PostgreSQL backends serving it (a local server:
their run time from ``/proc/<pid>/schedstat``), and the backends' share of the wall time.
With ``--keep DIR`` the SQLite archive stays in DIR and the PostgreSQL copy in a database named
after it, both reused by the next run. Always exits 0; the machine may be busy: the load average
is printed; run it twice and keep the quieter run.
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
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import _synthetic as synth
from bench_search import Query, build_archive, make_queries, pct, synthetic_issues
from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine, event, text

from bot.app import Container, build
from bot.clock import FrozenClock
from bot.config import load_settings
from bot.services import dbcopy
from bot.store.migrate import upgrade

ADMIN = os.environ.get("DIGESTBOT_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
TARGETS = {"3+ chars": 10.0, "1-2 char CJK": 30.0}


def load() -> str:
    """The load average (1, 5, 15 minutes): the machine is shared."""
    found = Path("/proc/loadavg")
    return " ".join(found.read_text().split()[:3]) if found.exists() else "?"


@dataclass(slots=True)
class Figures:
    lite: list[float] = field(default_factory=list)  # ms
    pg: list[float] = field(default_factory=list)  # ms
    lite_cpu: list[float] = field(default_factory=list)  # ms of this process's CPU
    pg_cpu: list[float] = field(default_factory=list)  # ms of this process's CPU
    backend: list[float] = field(default_factory=list)  # ms of the PostgreSQL backends' CPU
    statements: list[int] = field(default_factory=list)  # PostgreSQL statements per search
    same_best: list[bool] = field(default_factory=list)
    same_top: list[bool] = field(default_factory=list)  # the whole top 10, in order
    overlap: list[float] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)  # the queries, in the order of ``pg``


class Counter:
    """Counts the statements an engine's connections run, through SQLAlchemy or on the
    psycopg connection itself (``bot.store.search_pg`` runs its own): a SQLAlchemy
    ``connect`` event that gives each new connection a counting cursor class."""

    def __init__(self) -> None:
        self.n = 0

    def __call__(self, dbapi_connection: Any, _record: Any) -> None:
        counter = self
        base = dbapi_connection.cursor_factory

        class Counting(base):  # type: ignore[misc, valid-type]
            def execute(self, *args: Any, **kwargs: Any) -> Any:
                counter.n += 1
                return super().execute(*args, **kwargs)

        dbapi_connection.cursor_factory = Counting


class Backends:
    """The CPU time of the PostgreSQL backends serving an engine (a local server only): the
    kernel's nanosecond run time (``/proc/<pid>/schedstat``) of every backend the engine
    connected to, so a search's server-side CPU shows next to its wall time."""

    def __init__(self) -> None:
        self.pids: set[int] = set()

    def __call__(self, dbapi_connection: Any, _record: Any) -> None:
        self.pids.add(int(dbapi_connection.info.backend_pid))

    def cpu_ms(self) -> float | None:
        """Their CPU so far (ms), or None when not readable (a remote server)."""
        total = 0
        for pid in self.pids:
            try:
                total += int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])
            except (OSError, ValueError, IndexError):
                return None
        return total / 1e6


async def search_ms(app: Container, q: str, limit: int) -> tuple[float, float]:
    """(wall ms, this process's CPU ms) of one search."""
    started, cpu = time.perf_counter(), time.process_time()
    await app.archive.search(q, limit=limit)
    return (time.perf_counter() - started) * 1000, (time.process_time() - cpu) * 1000


async def top(app: Container, q: str, limit: int) -> list[tuple[str, str, str | None]]:
    hits = (await app.archive.search(q, limit=limit)).hits
    return [(h.issue, h.headline, h.url) for h in hits]


async def measure(
    apps: dict[str, Container],
    batch: Sequence[Query],
    limit: int,
    counter: Counter,
    backends: Backends,
) -> dict[str, Figures]:
    """Per kind of query: latency and CPU on both stores (interleaved, after a warm-up), the
    backends' CPU, statements, agreement of the top 10."""
    for q in batch[:5]:
        for app in apps.values():
            await app.archive.search(q.text, limit=limit)
    kinds: dict[str, Figures] = defaultdict(Figures)
    for q in batch:
        f = kinds[q.kind]
        wall, cpu = await search_ms(apps["sqlite"], q.text, limit)
        f.lite.append(wall)
        f.lite_cpu.append(cpu)
        before, server = counter.n, backends.cpu_ms()
        wall, cpu = await search_ms(apps["postgres"], q.text, limit)
        after = backends.cpu_ms()
        f.pg.append(wall)
        f.pg_cpu.append(cpu)
        if server is not None and after is not None:
            f.backend.append(after - server)
        f.statements.append(counter.n - before)
        a, b = await top(apps["sqlite"], q.text, 10), await top(apps["postgres"], q.text, 10)
        f.same_best.append(a[:1] == b[:1])
        f.same_top.append(a == b)
        f.overlap.append(len(set(a) & set(b)) / max(1, len(a)))
        f.texts.append(q.text)
    return kinds


def row(name: str, f: Figures, target: float | None) -> list[str]:
    p95_lite, p95_pg = pct(f.lite, 95), pct(f.pg, 95)
    met = "" if target is None else f"{target:.0f} ({'met' if p95_pg <= target else 'missed'})"
    server = f"{statistics.mean(f.backend):.2f}" if f.backend else "-"
    share = f"{sum(f.backend) / sum(f.pg):.0%}" if f.backend and sum(f.pg) else "-"
    return [
        name,
        str(len(f.pg)),
        f"{statistics.median(f.lite):.1f}",
        f"{p95_lite:.1f}",
        f"{max(f.lite):.1f}",
        f"{statistics.mean(f.lite_cpu):.2f}",
        f"{statistics.median(f.pg):.1f}",
        f"{p95_pg:.1f}",
        f"{max(f.pg):.1f}",
        f"{statistics.mean(f.pg_cpu):.2f}",
        server,
        share,
        f"{p95_pg / p95_lite:.1f}x" if p95_lite else "-",
        met,
        f"{statistics.mean(f.statements):.1f}",
        f"{sum(f.same_best) / len(f.same_best):.0%}",
        f"{sum(f.same_top) / len(f.same_top):.0%}",
        f"{statistics.mean(f.overlap):.3f}",
    ]


async def report_search(
    console: Console,
    apps: dict[str, Container],
    queries: dict[str, list[Query]],
    limit: int,
    counter: Counter,
    backends: Backends,
    slowest: int = 0,
) -> None:
    title = "search, top {} (ms; CPU: mean ms per search; targets apply to PostgreSQL as to SQLite)"
    table = Table(title=title.format(limit))
    columns = ["class / kind", "queries", "SQLite p50", "SQLite p95", "SQLite max", "SQLite CPU"]
    columns += ["PG p50", "PG p95", "PG max", "PG CPU (bench)", "PG CPU (server)", "server share"]
    columns += ["PG/SQLite p95", "target", "PG statements", "same best hit", "same top 10"]
    for column in [*columns, "overlap@10"]:
        table.add_column(column, justify="right")
    slow: list[tuple[float, str, str, int, bool]] = []  # PostgreSQL's slowest searches
    for name, batch in queries.items():
        console.print(f"load before {name}: {load()}")
        kinds = await measure(apps, batch, limit, counter, backends)
        total = Figures()
        for f in kinds.values():
            for attr in Figures.__slots__:
                getattr(total, attr).extend(getattr(f, attr))
        table.add_row(*row(name, total, TARGETS.get(name, 10.0)))
        for kind, f in sorted(kinds.items()):
            table.add_row(*row(f"  {kind}", f, None))
            slow += [
                (ms, kind, query, n, same)
                for ms, query, n, same in zip(f.pg, f.texts, f.statements, f.same_top, strict=True)
            ]
    console.print(table)
    for ms, kind, query, n, same in sorted(slow, reverse=True)[:slowest]:
        agree = "same top 10" if same else "top 10 differs"
        line = f"{ms:.1f} ms {kind} {query!r}, {n} statements, {agree}"
        console.print(f"  slow on PostgreSQL: {line}")
    console.print(f"load after: {load()}")


async def run(
    n_items: int, per_class: int, limit: int, seed: int, keep: Path | None, slowest: int = 0
) -> None:
    console = Console(width=250)
    console.print(f"load at start: {load()}")
    admin = create_engine(ADMIN, isolation_level="AUTOCOMMIT")
    name = (
        f"digestbot_bench_pg_{n_items}_{seed}"
        if keep
        else f"digestbot_bench_{uuid.uuid4().hex[:8]}"
    )
    pg_url = ADMIN.rsplit("/", 1)[0].replace("postgresql+psycopg", "postgresql") + f"/{name}"
    with tempfile.TemporaryDirectory() as tmp:
        folder = keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"bench-pg-{n_items}-{seed}.db"
        sqlite_url = f"sqlite:///{path}"
        issues = list(synthetic_issues(n_items, seed))
        if not path.exists():
            upgrade(sqlite_url)
            sqlite_app = build(load_settings(database_url=sqlite_url), FrozenClock(NOW))
            try:
                built = await build_archive(sqlite_app, issues)
            finally:
                await sqlite_app.aclose()
            console.print(f"{n_items:,} items: SQLite build {built:.1f} s (load {load()})")
        with admin.connect() as conn:
            exists = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
            ).first()
            if not exists:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            if not exists:
                started = time.perf_counter()
                report = dbcopy.copy_database(sqlite_url, pg_url)
                copied = time.perf_counter() - started
                console.print(
                    f"db copy to PostgreSQL {copied:.1f} s ({report.rows:,} rows, "
                    f"{report.rows / copied:,.0f} rows/s, search index rebuild included; "
                    f"load {load()})"
                )
                engine = create_engine(
                    pg_url.replace("postgresql:", "postgresql+psycopg:"),
                    isolation_level="AUTOCOMMIT",
                )
                with engine.connect() as c:
                    c.execute(text("VACUUM ANALYZE"))
                engine.dispose()
            else:
                upgrade(pg_url)  # a kept copy made by an older revision
            apps = {
                store: build(load_settings(database_url=url), FrozenClock(NOW))
                for store, url in (("sqlite", sqlite_url), ("postgres", pg_url))
            }
            counter, backends = Counter(), Backends()
            event.listen(apps["postgres"].sync_engine, "connect", backends)
            event.listen(apps["postgres"].sync_engine, "connect", counter)
            with apps["postgres"].sync_engine.connect() as c:
                settings = {
                    name: c.execute(text(f"SHOW {name}")).scalar_one()
                    for name in ("server_version", "jit", "plan_cache_mode", "work_mem")
                }
            console.print("PostgreSQL: " + ", ".join(f"{k} {v}" for k, v in settings.items()))
            try:
                queries = make_queries(issues, per_class, seed)
                await report_search(console, apps, queries, limit, counter, backends, slowest)
            finally:
                for app in apps.values():
                    await app.aclose()
        finally:
            if keep is None:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=100, help="per class")
    parser.add_argument("--limit", type=int, default=10)
    parser.add_argument("--seed", type=int, default=synth.DEFAULT_SEED)
    parser.add_argument("--keep", type=Path, help="keep (and reuse) the archives: folder")
    parser.add_argument("--quick", action="store_true", help="3,000 items, 20 queries per class")
    parser.add_argument("--slowest", type=int, default=0, help="list PostgreSQL's N slowest")
    args = parser.parse_args(argv)
    if args.quick:
        args.items, args.queries = 3000, 20
    asyncio.run(run(args.items, args.queries, args.limit, args.seed, args.keep, args.slowest))
    return 0


if __name__ == "__main__":
    sys.exit(main())
