"""The benchmark scripts run (``--quick``) and print their figures; synthetic digests parse.

Timings are never asserted here: the targets live in the scripts' output only.
"""

from __future__ import annotations

import importlib.util
import random
import sys
from pathlib import Path
from types import ModuleType

import pytest

from bot.domain.digest import parse_digest
from tests.builders import BENCHMARKS, run_bench_quick
from tests.conftest import PG_ADMIN


def _load_synthetic() -> ModuleType:
    spec = importlib.util.spec_from_file_location("_synthetic", BENCHMARKS / "_synthetic.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("_synthetic", module)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
@pytest.mark.postgres
def test_bench_workers_quick(tmp_path: Path) -> None:
    """1, 2 and 4 ``dispatch --once`` processes broadcast to 400 subscribers on PostgreSQL:
    nobody gets the post twice and the fake refuses nothing, whatever the speed. (A run may
    leave a few deliveries due a moment later to the next run: counted, not asserted.)"""
    out = run_bench_quick("bench_workers.py", tmp_path)
    if "skipped" in out:
        pytest.skip(out.strip())
    lines = [line for line in out.splitlines() if "worker(s):" in line]
    assert [line.split(" ", 1)[0] for line in lines] == ["1", "2", "4"], out
    for line in lines:
        for label in ("sustained", "msg/s", "whole run", "ms CPU", "commits", "rows updated"):
            assert label in line, (label, line)
        assert " sent in " in line and " missing" in line, line
        assert "0 limit violations, 0 extra" in line, line


@pytest.mark.slow
@pytest.mark.postgres
def test_bench_claims_quick(tmp_path: Path) -> None:
    """1 and 4 processes reserve one broadcast on PostgreSQL at both paces: every delivery
    is claimed (the script asserts it) and the figures are printed."""
    out = run_bench_quick("bench_claims.py", tmp_path)
    if "skipped" in out:
        pytest.skip(out.strip())
    lines = [line for line in out.splitlines() if "claims/s" in line]
    assert len(lines) == 4, out
    for line, (pace, procs) in zip(lines, [(30, 1), (30, 4), (1000, 1), (1000, 4)], strict=True):
        assert line.split()[1] == f"{pace}/s" and line.split()[2] == str(procs), line
        assert "transactions" in line and "load" in line, line


@pytest.mark.slow
@pytest.mark.postgres
def test_bench_search_pg_quick(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """3,000 items on SQLite and copied to PostgreSQL (a database of its own on the server the
    tests use, dropped after): both stores searched, both processes' CPU, the ratio and
    overlap@10 printed."""
    monkeypatch.setenv("DIGESTBOT_BENCH_PG", PG_ADMIN)
    out = run_bench_quick("bench_search_pg.py", tmp_path)
    for label in (
        "db copy to PostgreSQL",
        "PostgreSQL: server_version",
        "3+ chars",
        "1-2 char CJK",
        "PG p95",
        "PG CPU (server)",
        "PG/SQLite p95",
        "overlap@10",
        "load after",
    ):
        assert label in out, (label, out)


@pytest.mark.slow
def test_bench_search_quick(tmp_path: Path) -> None:
    out = run_bench_quick("bench_search.py", tmp_path)
    for label in (
        "3,000 items",
        "build (upsert_issue)",
        "3+ chars",
        "1-2 char CJK",
        "p50",
        "p95",
        "max",
        "naive p95",
        "full bm25 p95",
        "overlap@10",
        "target p95",
    ):
        assert label in out, (label, out)


@pytest.mark.slow
def test_bench_import_quick(tmp_path: Path) -> None:
    out = run_bench_quick("bench_import.py", tmp_path)
    for label in (
        "20 synthetic weekly digests",
        "import_texts x20",
        "re-import x20",
        "unchanged 20",
        "parse_digest median",
        "parse_digest p95",
    ):
        assert label in out, (label, out)


def test_synthetic_digests_parse() -> None:
    synth = _load_synthetic()
    rng = random.Random(5)
    for n, lang in enumerate(("en", "zh", "en", "zh", None), start=1):
        issue = synth.make_issue(rng, 2021, 10 + n, lang=lang)
        parsed = parse_digest(issue.render(), source=issue.name)
        assert len(parsed.items) == len(issue.items)
        assert synth.MIN_ITEMS <= len(parsed.items) <= synth.MAX_ITEMS
        assert [i.headline for i in parsed.items] == [i.headline for i in issue.items]
        assert parsed.key == f"2021-W{10 + n:02d}"
        assert synth.self_check(issue) == parsed


def test_synthetic_generator_is_deterministic() -> None:
    synth = _load_synthetic()
    first = [i.render() for i in synth.make_issues(3, seed=11)]
    again = [i.render() for i in synth.make_issues(3, seed=11)]
    assert first == again
    assert first != [i.render() for i in synth.make_issues(3, seed=12)]
