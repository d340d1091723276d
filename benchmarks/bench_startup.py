"""Start-up time of the command line: whole processes, as a user types them.

    .venv/bin/python benchmarks/bench_startup.py            # 11 runs of each command
    .venv/bin/python benchmarks/bench_startup.py --quick    # 3 runs
    .venv/bin/python benchmarks/bench_startup.py --pythonpath /tmp/other-checkout

Runs ``python -c pass`` (the interpreter's own floor) and ``digestbot --help``, ``search``,
``issues`` and ``show`` (as ``python -m bot``) against a temporary migrated SQLite database
holding the bundled sample digest, alternating the commands so a drift in the machine's speed
touches all of them alike. Prints the median and spread of the wall time of each, and the
median minus the floor, and the CPU time (user + system) each process used: on a busy machine
the wall time waits for a core, the CPU time much less. Target: under 0.35 s each. Always
exits 0: the target is reported, not enforced. ``--pythonpath`` puts another copy of ``bot``
first, to measure a before/after.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

TARGET_S = 0.35
SAMPLE = Path(__file__).resolve().parents[1] / "bot" / "demo_data"


def commands(python: str) -> dict[str, list[str]]:
    cli = [python, "-m", "bot"]
    return {
        "python -c pass": [python, "-c", "pass"],
        "digestbot --help": [*cli, "--help"],
        "digestbot search": [*cli, "search", "sparse", "experts"],
        "digestbot issues": [*cli, "issues"],
        "digestbot show": [*cli, "show", "2024-W12"],
    }


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(argv: Sequence[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run."""
    cpu = _children_cpu()
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv[2:])} failed: {done.stderr.decode()[-500:]}")
    return elapsed, _children_cpu() - cpu


def prepare(env: dict[str, str], cwd: Path, python: str) -> None:
    for args in (["db", "upgrade"], ["import", str(SAMPLE)]):
        done = subprocess.run(
            [python, "-m", "bot", *args], env=env, cwd=cwd, capture_output=True, check=False
        )
        if done.returncode != 0:
            raise SystemExit(f"digestbot {' '.join(args)} failed: {done.stderr.decode()}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11, help="runs of each command (default 11)")
    parser.add_argument("--quick", action="store_true", help="3 runs of each command")
    parser.add_argument("--pythonpath", help="put this folder first on PYTHONPATH (before/after)")
    args = parser.parse_args(argv)
    runs = 3 if args.quick else max(1, args.runs)
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        folder = Path(tmp)
        env = {
            **os.environ,
            "XDG_DATA_HOME": str(folder / "data"),
            "DIGESTBOT_DATABASE_URL": f"sqlite:///{folder / 'bench.db'}",
            "COLUMNS": "120",
            "NO_COLOR": "1",
        }
        # compiled bytecode as an installed package has it, kept out of the source tree
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(folder / "pycache")
        if args.pythonpath:
            env["PYTHONPATH"] = args.pythonpath
        prepare(env, folder, sys.executable)
        table = commands(sys.executable)
        times: dict[str, list[float]] = {name: [] for name in table}
        cpu: dict[str, list[float]] = {name: [] for name in table}
        for command in table.values():  # warm-up: file caches, compiled bytecode
            run_once(command, env, folder)
        for _ in range(runs):
            for name, command in table.items():
                wall, used = run_once(command, env, folder)
                times[name].append(wall)
                cpu[name].append(used)
    floor = statistics.median(times["python -c pass"])
    print(f"start-up, wall seconds over {runs} runs each (target < {TARGET_S:.2f} s)")
    print(
        f"{'command':<20} {'median':>8} {'min':>8} {'max':>8} {'- floor':>8} {'cpu':>8}  target"
    )
    for name, values in times.items():
        median = statistics.median(values)
        verdict = "" if name.startswith("python") else ("met" if median < TARGET_S else "missed")
        print(
            f"{name:<20} {median:8.3f} {min(values):8.3f} {max(values):8.3f} "
            f"{median - floor:8.3f} {statistics.median(cpu[name]):8.3f}  {verdict}"
        )
    print(f"load average {' '.join(f'{n:.2f}' for n in os.getloadavg())} on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
