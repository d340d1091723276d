"""``bench_dispatch.py`` and ``bench_slots.py`` run with ``--quick`` and print their figures.

Purpose: keep the benchmark scripts working as bot/ changes. Timings are never asserted (the
targets live in the scripts' output); the simulated DST year's correctness figure is (0/0)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def run_quick(script: str, cwd: Path) -> str:
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), "--quick"],
        cwd=cwd,
        timeout=240,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "COLUMNS": "220", "NO_COLOR": "1"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.slow
def test_bench_dispatch_quick(tmp_path: Path) -> None:
    out = run_quick("bench_dispatch.py", tmp_path)
    for label in (
        "100 posts made due",
        "ledger only (in-memory publishers)",
        "X via tweepy -> fake",
        "AIORateLimiter on",
        "AIORateLimiter off",
        "deliveries/s",
        "per delivery",
        "send (HTTP)",
        "ledger overhead",
        "claim stmt",
        "mark stmt",
        "AIORateLimiter effect",
    ):
        assert label in out, (label, out)


@pytest.mark.slow
def test_bench_slots_quick(tmp_path: Path) -> None:
    out = run_quick("bench_slots.py", tmp_path)
    for label in (
        "(a) real time",
        "wake lateness",
        "release lateness",
        "real-time slots: 2",
        "(b) simulated ticks every 10 min",
        "missed/doubled slots:",
        "DST change day 2026-03-29",
        "DST change day 2026-10-25",
    ):
        assert label in out, (label, out)
    assert "missed 0" in out  # every real-time slot released its post
    assert "missed/doubled slots: 0/0" in out
