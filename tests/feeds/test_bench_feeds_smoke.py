"""``benchmarks/bench_feeds.py --quick`` runs and prints its figures (timings never asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_feeds.py"


@pytest.mark.slow
def test_bench_feeds_quick(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--quick"],
        cwd=tmp_path,
        timeout=300,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for label in ("parse_digest(HTML) median", "p95", "html_to_markdown", "feeds check, 20",
                  "20 issues added", "second check (304)", "enqueue_issues"):
        assert label in done.stdout, (label, done.stdout)
