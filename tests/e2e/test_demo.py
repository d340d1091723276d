"""README's first command: the demo runs from any folder on the installed package."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_demo_runs_from_another_folder_without_touching_it(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGESTBOT_")}
    env["COLUMNS"] = "160"
    work = tmp_path / "work"  # HOME (where the per-user log lives) is tmp_path / "home"
    work.mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "bot", "demo"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    out = result.stdout
    assert result.returncode == 0, result.stdout + result.stderr
    assert "added 1" in out and "2024-W12" in out
    assert "search: 小波" in out and "search: sparse experts" in out
    assert "X posts: 7, Telegram messages: 7, requests the strict fakes rejected: 0" in out
    assert list(work.iterdir()) == []  # its database was temporary: nothing left here
