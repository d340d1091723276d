"""``digestbot run`` with a maintainer: the composition root gives the Telegram handlers the
maintainer services; the maintainer's commands work through long polling, a subscriber's are
refused, and the maintainer's chat gets its own command menu."""

from __future__ import annotations

import asyncio
import itertools
import json
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from bot.app import build
from bot.config import load_settings
from bot.sandbox import ServerThread, TelegramState, XState, make_telegram_app, make_x_app
from bot.telegram.maintainer.texts import MAINT_EN
from tests.builders import TELEGRAM_TOKEN, X_KEYS
from tests.integration.test_worker import _prepare, start_run, wait_for

pytestmark = pytest.mark.slow
MAINTAINER, READER = 5151, 5252
_ids = itertools.count(1)


def command(user: int, text: str) -> dict[str, Any]:
    name = text.split()[0]
    return {
        "message": {
            "message_id": next(_ids),
            "date": int(time.time()),
            "chat": {"id": user, "type": "private", "first_name": "U"},
            "from": {"id": user, "is_bot": False, "first_name": "U", "language_code": "en"},
            "text": text,
            "entities": [{"type": "bot_command", "offset": 0, "length": len(name)}],
        }
    }


async def _paused(db_url: str) -> bool:
    app = build(load_settings(database_url=db_url))
    try:
        return (await app.queue.view(1)).paused
    finally:
        await app.aclose()


def test_run_serves_the_maintainer_and_refuses_others(db_url: str, tmp_path: Path) -> None:
    asyncio.run(_prepare(db_url))
    tg = TelegramState(chats={"@maint_flow"}, limits_enabled=False, users={MAINTAINER})
    xs = XState(**X_KEYS)
    tg.push_update(command(READER, "/pause"))
    tg.push_update(command(MAINTAINER, "/status"))
    with ServerThread(make_telegram_app(tg)) as tg_url, ServerThread(make_x_app(xs)) as x_url:
        proc = start_run(
            db_url,
            tg_url,
            x_url,
            "@maint_flow",
            tmp_path,
            TELEGRAM__MAINTAINER_IDS=str(MAINTAINER),
        )
        try:
            assert wait_for(lambda: len(tg.messages(READER)) >= 1), "no answer to the reader"
            assert wait_for(lambda: len(tg.messages(MAINTAINER)) >= 1), "no /status reply"
            proc.send_signal(signal.SIGTERM)
            output, _ = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0, output
    assert "Traceback" not in output and TELEGRAM_TOKEN not in output
    assert [m.visible_text for m in tg.messages(READER)] == [MAINT_EN.not_allowed]
    status = [m for m in tg.messages(MAINTAINER) if m.visible_text.startswith("Status")]
    assert status, [m.visible_text for m in tg.messages(MAINTAINER)]
    assert asyncio.run(_paused(db_url)) is False
    key = json.dumps({"chat_id": MAINTAINER, "type": "chat"}, sort_keys=True)
    menu = {c["command"] for c in tg.scoped_commands[(key, "")]}
    assert {"queue", "status", "week"} <= menu
    assert "queue" not in {c["command"] for c in tg.commands}
    assert tg.rejected == []
