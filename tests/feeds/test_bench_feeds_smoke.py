"""``benchmarks/bench_feeds.py --quick`` runs and prints its figures (timings never asserted)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.builders import run_bench_quick


@pytest.mark.slow
def test_bench_feeds_quick(tmp_path: Path) -> None:
    out = run_bench_quick("bench_feeds.py", tmp_path)
    for label in ("parse_digest(HTML) median", "p95", "html_to_markdown", "feeds check, 20",
                  "20 issues added", "second check (304)", "enqueue_issues"):
        assert label in out, (label, out)
