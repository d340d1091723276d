"""``digestbot web`` as a real process (uvicorn on a free port) beside ``digestbot run`` in
webhook mode, both against the strict fake Bot API: the webhook is set with the secret, an
update is answered, a forged one refused, the worker never long-polls, SIGTERM stops both
cleanly, and the secret appears in no output."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from bot.sandbox import ServerThread, TelegramState, make_telegram_app
from tests.builders import TELEGRAM_TOKEN

pytestmark = pytest.mark.slow

SECRET = "e2e-web-Secret_9876543210abc"
URL = "https://bot.example.org/telegram"
USER, OTHER = 4242, 4343


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(condition: Callable[[], bool], deadline: float = 60.0) -> bool:
    """Poll an observable condition (not a timing assumption), bounded."""
    end = time.monotonic() + deadline
    while not condition():
        if time.monotonic() > end:
            return False
        time.sleep(0.05)
    return True


def healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def start(command: str, env: dict[str, str], cwd: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bot", command, *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def update(text: str, update_id: int = 9001, user: int = USER) -> dict[str, object]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": 1,
            "date": 1772438400,
            "chat": {"id": user, "type": "private", "first_name": "E2E"},
            "from": {"id": user, "is_bot": False, "first_name": "E2E", "language_code": "en"},
            "text": text,
            "entities": [{"type": "bot_command", "offset": 0, "length": len(text)}],
        },
    }


def test_web_process_answers_updates_and_run_does_not_poll(db_url: str, tmp_path: Path) -> None:
    state = TelegramState(users={USER, OTHER})
    port, other = free_port(), free_port()
    base, second = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{other}"
    with ServerThread(make_telegram_app(state)) as api:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("DIGESTBOT_")},
            "DIGESTBOT_DATABASE_URL": db_url,
            "DIGESTBOT_TELEGRAM__TOKEN": TELEGRAM_TOKEN,
            "DIGESTBOT_TELEGRAM__API_BASE_URL": api,
            "DIGESTBOT_TELEGRAM__WEBHOOK_URL": URL,
            "DIGESTBOT_TELEGRAM__WEBHOOK_SECRET": SECRET,
            "DIGESTBOT_DELIVERY__POLL_SECONDS": "0.2",
            "PORT": str(port),  # as a PaaS sets it
        }
        web = start("web", {**env, "DIGESTBOT_WEB__HOST": "127.0.0.1"}, tmp_path)
        web2 = start("web", env, tmp_path, "--host", "127.0.0.1", "--port", str(other))
        worker = start("run", env, tmp_path)
        try:
            assert wait_for(lambda: healthy(base)), "digestbot web never became healthy"
            assert wait_for(lambda: healthy(second)), "the second web process neither"
            assert state.calls.count("setWebhook") == 2
            assert state.webhook_url == URL and state.webhook_secret == SECRET
            body = json.dumps(update("/start")).encode()
            headers = {"content-type": "application/json"}
            forged = httpx.post(f"{base}/telegram", content=body, headers=headers, timeout=30)
            assert forged.status_code == 403
            assert state.messages(USER) == []
            headers["X-Telegram-Bot-Api-Secret-Token"] = SECRET
            answer = httpx.post(f"{base}/telegram", content=body, headers=headers, timeout=30)
            assert answer.status_code == 200
            assert len(state.messages(USER)) == 1
            helped = httpx.post(
                f"{second}/telegram",
                content=json.dumps(update("/help", 9002, OTHER)).encode(),
                headers=headers,
                timeout=30,
            )
            assert helped.status_code == 200
            assert len(state.messages(OTHER)) == 1  # the other process answered too
            assert wait_for(lambda: state.calls.count("getMe") >= 2)  # the worker connected too
        finally:
            for proc in (web, web2, worker):
                proc.send_signal(signal.SIGTERM)
            web_out, _ = web.communicate(timeout=60)
            web2_out, _ = web2.communicate(timeout=60)
            run_out, _ = worker.communicate(timeout=60)
    assert web.returncode == 0, web_out
    assert web2.returncode == 0, web2_out
    web_out += web2_out
    assert worker.returncode == 0, run_out
    assert "getUpdates" not in state.calls and "deleteWebhook" not in state.calls
    assert "webhook mode" in run_out
    assert "digestbot web stopped" in web_out
    assert SECRET not in web_out + run_out
    assert "Traceback" not in web_out + run_out
