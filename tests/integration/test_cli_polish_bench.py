"""``benchmarks/bench_startup.py`` runs and prints a row per command (timings never asserted)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_startup.py"


@pytest.mark.slow
def test_bench_startup_prints_every_command(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--runs", "1"],
        cwd=work,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    rows = {line.split("  ")[0] for line in done.stdout.splitlines()}
    for command in ("python -c pass", "digestbot --help", "digestbot search", "digestbot show"):
        assert command in rows, done.stdout
    assert "target < 0.35 s" in done.stdout
    assert list(work.iterdir()) == []  # its database and bytecode went to a temp folder
