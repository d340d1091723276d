"""Import speed: ``ArchiveService.import_texts`` of five years of digests, and ``parse_digest``.

    .venv/bin/python benchmarks/bench_import.py           # 260 weekly digests (2020-2024)
    .venv/bin/python benchmarks/bench_import.py --quick   # 20 digests

Times the import of N synthetic weekly digests into a fresh migrated SQLite database (target
< 5 s for 260), a re-import of the same texts (every one "unchanged"), and ``parse_digest`` on
one typical digest (median and p95 over 200 runs, target < 20 ms).  Always exits 0: the
targets are reported, not enforced.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import _synthetic as synth
from rich.console import Console
from rich.table import Table

from bot.app import build
from bot.clock import FrozenClock
from bot.config import load_settings
from bot.domain.digest import parse_digest
from bot.services.archive import ImportReport
from bot.store.migrate import upgrade

TARGET_IMPORT_S = 5.0  # for 260 digests
TARGET_PARSE_MS = 20.0
NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def pct(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def typical(digests: Sequence[tuple[str, str]]) -> tuple[str, str]:
    """The digest of median length."""
    return sorted(digests, key=lambda d: len(d[1]))[len(digests) // 2]


def time_parse(name: str, text: str, runs: int) -> list[float]:
    for _ in range(min(10, runs)):  # warm-up: regex compilation, caches
        parse_digest(text, source=name)
    out: list[float] = []
    for _ in range(runs):
        started = time.perf_counter()
        parse_digest(text, source=name)
        out.append((time.perf_counter() - started) * 1000)
    return out


async def time_imports(
    db_url: str, digests: list[tuple[str, str]]
) -> tuple[float, ImportReport, float, ImportReport]:
    app = build(load_settings(database_url=db_url), FrozenClock(NOW))
    try:
        started = time.perf_counter()
        first = await app.archive.import_texts(digests)
        first_s = time.perf_counter() - started
        started = time.perf_counter()
        again = await app.archive.import_texts(digests)
        again_s = time.perf_counter() - started
    finally:
        await app.aclose()
    return first_s, first, again_s, again


def run(count: int, parse_runs: int, seed: int) -> None:
    console = Console(width=None if sys.stdout.isatty() else 160)
    started = time.perf_counter()
    digests = synth.make_digests(count, seed=seed)
    gen_s = time.perf_counter() - started
    chars = sum(len(text) for _, text in digests)
    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade(url)
        first_s, first, again_s, again = asyncio.run(time_imports(url, digests))
    items = sum(len(p.items) for p in first.issues)
    name, text = typical(digests)
    parse_ms = time_parse(name, text, parse_runs)
    typical_items = len(parse_digest(text, source=name).items)

    console.print(
        f"{count} synthetic weekly digests: {chars / 1e6:.2f} M characters, {items:,} items "
        f"(generated in {gen_s:.1f} s)"
    )
    if first.failed or again.failed:
        console.print(f"[red]failed imports: {first.failed or again.failed}[/red]")
    scale = count / 260
    table = Table(title="import and parse")
    for col in ("measure", "value", "per digest", "target", "ok", "outcome"):
        table.add_column(col, justify="left" if col in ("measure", "outcome") else "right")
    table.add_row(
        f"import_texts x{count} (fresh db)",
        f"{first_s:.2f} s",
        f"{first_s / count * 1000:.1f} ms",
        f"< {TARGET_IMPORT_S * scale:.2f} s",
        "yes" if first_s < TARGET_IMPORT_S * scale else "NO",
        f"added {len(first.added)}, updated {len(first.updated)}, failed {len(first.failed)}",
    )
    table.add_row(
        f"re-import x{count} (same texts)",
        f"{again_s:.2f} s",
        f"{again_s / count * 1000:.1f} ms",
        "",
        "",
        f"unchanged {len(again.unchanged)}, added {len(again.added)}, updated {len(again.updated)}",
    )
    table.add_row(
        f"parse_digest median ({parse_runs} runs)",
        f"{statistics.median(parse_ms):.2f} ms",
        "",
        f"< {TARGET_PARSE_MS:.0f} ms",
        "yes" if statistics.median(parse_ms) < TARGET_PARSE_MS else "NO",
        f"{len(text):,} chars, {typical_items} items",
    )
    p95 = pct(parse_ms, 95)
    table.add_row(
        f"parse_digest p95 ({parse_runs} runs)",
        f"{p95:.2f} ms",
        "",
        f"< {TARGET_PARSE_MS:.0f} ms",
        "yes" if p95 < TARGET_PARSE_MS else "NO",
        f"max {max(parse_ms):.2f} ms",
    )
    console.print(table)
    if count != 260:
        console.print(f"(import target scaled from 5 s for 260 digests to {count})")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--digests", type=int, default=260, help="weekly digests to import")
    parser.add_argument("--parse-runs", type=int, default=200, help="timed parse_digest runs")
    parser.add_argument("--seed", type=int, default=synth.DEFAULT_SEED)
    parser.add_argument("--quick", action="store_true", help="20 digests, 50 parse runs")
    args = parser.parse_args(argv)
    if args.quick:
        args.digests, args.parse_runs = 20, 50
    run(args.digests, args.parse_runs, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
