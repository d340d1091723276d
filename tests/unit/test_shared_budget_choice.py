"""Which processes stamp their replies in the Telegram budget every process sees."""

from __future__ import annotations

import pytest

from bot.app import shares_telegram_budget
from bot.config import load_settings


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DIGESTBOT_REDIS_URL", "DIGESTBOT_TELEGRAM__WEBHOOK_URL", "DIGESTBOT_CONFIG"):
        monkeypatch.delenv(name, raising=False)


def test_polling_without_redis_does_not_stamp_replies() -> None:
    """One process answers and broadcasts: a database stamp per reply would double a
    command's cost."""
    assert shares_telegram_budget(load_settings()) is False


def test_webhook_mode_stamps_replies() -> None:
    """``digestbot web`` processes answer while workers broadcast."""
    settings = load_settings(telegram={"webhook_url": "https://bot.example.org/telegram"})
    assert shares_telegram_budget(settings) is True


def test_redis_makes_every_process_stamp_replies() -> None:
    settings = load_settings(redis_url="redis://127.0.0.1:6379/0")
    assert shares_telegram_budget(settings) is True
