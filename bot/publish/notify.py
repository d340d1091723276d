"""Telling the maintainer: every alert is logged; with Telegram it is also sent to them."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Final, Literal, Protocol

logger = logging.getLogger(__name__)

#: what an alert is about. "dead", "parked" (outcome unknown, e.g. after a crash) and "failed"
#: name a post (``post_id``): its Telegram alert gets Retry / Reschedule / Edit / Skip buttons;
#: "budget" (the X cap or budget is reached) gets a Status button; "issue" names issues a feed
#: imported without queueing them (``issue_keys``): Enqueue papers / Plan weekly post / Skip;
#: "info" gets none.
AlertKind = Literal["info", "dead", "parked", "failed", "budget", "issue"]
WITH_BUTTONS: Final = frozenset({"dead", "parked", "failed", "budget", "issue"})


def delivery_alert_kind(state: str) -> AlertKind:
    """The alert kind for a delivery that ended in ``state`` (dead, parked, failed)."""
    if state == "dead":
        return "dead"
    if state == "parked":
        return "parked"
    return "failed" if state == "failed" else "info"


@dataclass(frozen=True, slots=True)
class Alert:
    text: str
    post_id: int | None = None
    kind: AlertKind = "info"
    issue_keys: tuple[str, ...] = ()  # the issues it is about (a feed's new digests)

    @property
    def actionable(self) -> bool:
        return self.kind in WITH_BUTTONS


class Notifier(Protocol):
    async def alert(
        self,
        text: str,
        *,
        post_id: int | None = None,
        kind: AlertKind = "info",
        issue_keys: Sequence[str] = (),
    ) -> None:
        """Tell the maintainers. ``post_id``, ``issue_keys`` and ``kind`` (optional: older
        callers pass only the text) let the Telegram alert carry buttons that act on that post
        or on those issues."""
        ...

    async def progress(self, key: str, text: str) -> None:
        """A status that changes (a long broadcast): one message per ``key``, edited."""
        ...


class LogNotifier:
    """Keeps every alert (tests read ``alerts``) and logs it."""

    def __init__(self) -> None:
        self.alerts: list[str] = []
        self.details: list[Alert] = []  # the same alerts with their post, kind and issues
        self.progress_notes: dict[str, str] = {}  # key -> the latest text

    async def alert(
        self,
        text: str,
        *,
        post_id: int | None = None,
        kind: AlertKind = "info",
        issue_keys: Sequence[str] = (),
    ) -> None:
        self.alerts.append(text)
        self.details.append(Alert(text, post_id, kind, tuple(issue_keys)))
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

    async def alert(
        self,
        text: str,
        *,
        post_id: int | None = None,
        kind: AlertKind = "info",
        issue_keys: Sequence[str] = (),
    ) -> None:
        await super().alert(text, post_id=post_id, kind=kind, issue_keys=issue_keys)
        for chat_id in self._maintainers:
            try:
                await self._send(chat_id, f"digestbot: {text}"[:4000])
            except Exception as exc:  # an alert must never break dispatching
                logger.warning("could not alert maintainer %s: %s", chat_id, type(exc).__name__)
