"""Telling the maintainer: every alert is logged; with Telegram it is also sent to them."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

logger = logging.getLogger(__name__)


class Notifier(Protocol):
    async def alert(self, text: str) -> None: ...

    async def progress(self, key: str, text: str) -> None:
        """A status that changes (a long broadcast): one message per ``key``, edited."""
        ...


class LogNotifier:
    """Keeps every alert (tests read ``alerts``) and logs it."""

    def __init__(self) -> None:
        self.alerts: list[str] = []
        self.progress_notes: dict[str, str] = {}  # key -> the latest text

    async def alert(self, text: str) -> None:
        self.alerts.append(text)
        logger.warning("maintainer alert: %s", text)

    async def progress(self, key: str, text: str) -> None:
        self.progress_notes[key] = text
        logger.info("%s", text)


class TelegramNotifier(LogNotifier):
    """Also sends each alert to the maintainers' private chats (plain text, never fails)."""

    def __init__(
        self, send: Callable[[int, str], Awaitable[object]], maintainers: Sequence[int]
    ) -> None:
        super().__init__()
        self._send = send
        self._maintainers = list(maintainers)

    async def alert(self, text: str) -> None:
        await super().alert(text)
        for chat_id in self._maintainers:
            try:
                await self._send(chat_id, f"digestbot: {text}"[:4000])
            except Exception as exc:  # an alert must never break dispatching
                logger.warning("could not alert maintainer %s: %s", chat_id, type(exc).__name__)
