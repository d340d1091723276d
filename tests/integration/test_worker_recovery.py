"""``digestbot run`` with Telegram down at start: it keeps running, X goes on, the maintainer is
told once, and Telegram's posts go out by themselves when the API comes back."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest

from bot.sandbox import ServerThread, TelegramState, XState, make_telegram_app, make_x_app
from tests.builders import TELEGRAM_TOKEN, X_KEYS
from tests.integration.test_platform_trouble import free_port
from tests.integration.test_worker import _prepare, start_run, wait_for

pytestmark = pytest.mark.slow


def test_run_survives_telegram_down_at_start_and_recovers(db_url: str, tmp_path: Path) -> None:
    asyncio.run(_prepare(db_url))
    port = free_port()
    tg, xs = TelegramState(chats={"@recovery"}, limits_enabled=False), XState(**X_KEYS)
    with ServerThread(make_x_app(xs)) as x_url:
        proc = start_run(
            db_url,
            f"http://127.0.0.1:{port}",
            x_url,
            "@recovery",
            tmp_path,
            DELIVERY__POLL_SECONDS="0.2",
            DELIVERY__RECONNECT_BASE_SECONDS="0.2",
            DELIVERY__RECONNECT_CAP_SECONDS="0.5",
        )
        try:
            assert wait_for(lambda: len(xs.posts) >= 2), "X must go on while Telegram is down"
            assert proc.poll() is None, "run must keep running"
            with ServerThread(make_telegram_app(tg), port=port):  # the API comes back
                assert wait_for(lambda: len(tg.sent) >= 2), "Telegram must catch up by itself"
                proc.send_signal(signal.SIGTERM)
                output, _ = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0, output
    # the maintainer is told once (later tries are routine INFO lines), then of the recovery
    assert output.count("maintainer alert: Telegram API unreachable") == 1, output
    assert output.count("maintainer alert: telegram is connected again") == 1, output
    assert "Traceback" not in output and TELEGRAM_TOKEN not in output
    assert len(tg.sent) == 2 and tg.rejected == []
