"""``benchmarks/bench_maintainer.py --quick`` runs and prints its figures (never asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_maintainer.py"


@pytest.mark.slow
def test_bench_maintainer_quick(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"],
        cwd=tmp_path,
        timeout=300,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for label in ("/queue page", "move + audit row", "move + undo", "stats (12 weeks)",
                  "render_png", "propose (fake arXiv, HTTP)", "p95"):  # fmt: skip
        assert label in done.stdout, (label, done.stdout)
