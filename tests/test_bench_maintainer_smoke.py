"""``benchmarks/bench_maintainer.py --quick`` runs and prints its figures (never asserted)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.builders import run_bench_quick


@pytest.mark.slow
def test_bench_maintainer_quick(tmp_path: Path) -> None:
    out = run_bench_quick("bench_maintainer.py", tmp_path)
    for label in ("/queue page", "move + audit row", "move + undo", "stats (12 weeks)",
                  "render_png", "propose (fake arXiv, HTTP)", "p95"):  # fmt: skip
        assert label in out, (label, out)
