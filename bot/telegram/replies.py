"""Sending and editing replies: HTML parse mode, no link previews for lists; and the one
budget every message of the bot counts in (:class:`SharedPace`).

Every request the bot makes goes through PTB's rate limiter. :class:`SharedPace` is that
limiter: a request that puts a message in a chat (``send*``, ``edit*``, ``copy*``,
``forward*``: answers to commands, edits under a pressed button, maintainer alerts) first takes
a stamp in the budget all processes share (:mod:`bot.services.pace`: the database, or Redis),
and leaves at the moment it was given: at once while the second has room, a little later
when it is full or its chat had a message less than a second ago (a drip post). The ledger's
own sends carry ``rate_limit_args=LEDGER``: their slots were reserved by the ledger's pace,
so they are not counted twice. ``answerCallbackQuery``, ``answerInlineQuery`` and other
calls send no message and pass straight through.

A reply refused with 429 all the same (a budget that could not be reached, a limit we do not
know) is sent once more after ``retry_after``. The user gets the answer late rather than not
at all. (The ledger's own sends are never retried here: its 429 reaches the ledger, which
pauses every send.)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime
from typing import Any, TypeVar

from telegram import CallbackQuery, InlineKeyboardMarkup, LinkPreviewOptions, Update
from telegram.error import BadRequest, RetryAfter
from telegram.ext import BaseRateLimiter

from bot.clock import Clock
from bot.publish.base import LEDGER
from bot.services.pace import ReplyBudget
from bot.telegram.send import edit_html, send_html

logger = logging.getLogger(__name__)
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
MAX_REPLY_WAIT = 10.0  # seconds: a longer retry_after is not waited for (the reply is lost)
MAX_PACE_WAIT = 5.0  # seconds: a budget slot further away than this is not waited for longer
LATE_REPLY = 0.05  # seconds late for its stamp: a reply takes a new one (half the shared margin)
RETAKES = 2
_MESSAGE_PREFIXES = ("send", "edit", "copy", "forward")
_NOT_MESSAGES = frozenset({"sendChatAction"})
_T = TypeVar("_T")


async def once_more(call: Callable[[], Awaitable[_T]]) -> _T:
    """``call()``, and once more after Telegram's ``retry_after`` if it was refused with 429."""
    try:
        return await call()
    except RetryAfter as exc:
        wait = exc.retry_after
        seconds = wait if isinstance(wait, int | float) else wait.total_seconds()
        if seconds > MAX_REPLY_WAIT:
            raise
        logger.info("reply refused with 429: sent again in %.1f s", seconds)
        await asyncio.sleep(seconds)
        return await call()


async def reply(
    update: Update, text: str, markup: InlineKeyboardMarkup | None = None, *, preview: bool = False
) -> None:
    message = update.effective_message
    if message is None:
        return
    await once_more(lambda: send_html(message, text, markup, None if preview else NO_PREVIEW))


async def edit(query: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None) -> None:
    """Replace the message a button belongs to; pressing the same button twice is fine."""
    try:
        await once_more(lambda: edit_html(query, text, markup, NO_PREVIEW))
    except BadRequest as exc:
        if "not modified" not in str(exc).lower():
            raise
        logger.debug("message %s unchanged", query.message and query.message.message_id)


def puts_a_message(endpoint: str) -> bool:
    """Whether a Bot API call puts a message in a chat (edits counted too: conservative)."""
    return endpoint.startswith(_MESSAGE_PREFIXES) and endpoint not in _NOT_MESSAGES


def _chat(data: dict[str, Any]) -> tuple[int | None, bool]:
    """(numeric chat or None, whether the per-minute group limit applies)."""
    chat = data.get("chat_id")
    if chat is None:
        return None, False  # an inline message: the overall second only
    try:
        number = int(chat)
    except (TypeError, ValueError):
        return None, True  # "@channelname": a channel
    return number, number < 0


class SharedPace(BaseRateLimiter[Any]):
    """PTB's rate limiter for one budget shared by every process (see the module's doc).
    ``inner``: the limiter every request then goes through as before (PTB's AIORateLimiter:
    this process's own limits), or None. ``clock``: the real clock the budget's stamps are on;
    ``sleep``: how a reply waits for its moment."""

    #: the ledger marks its sends (``rate_limit_args=LEDGER``) for this limiter only
    knows_ledger_sends = True

    def __init__(
        self,
        budget: ReplyBudget,
        clock: Clock,
        inner: BaseRateLimiter[Any] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.budget = budget
        self._clock = clock
        self._inner = inner
        self._sleep = sleep
        self.counted = 0  # messages that took a stamp
        self.retaken = 0  # stamps taken again (the message was late for the first)
        self.waited = 0.0  # seconds they waited for it, in all

    async def initialize(self) -> None:
        if self._inner is not None:
            await self._inner.initialize()

    async def shutdown(self) -> None:
        if self._inner is not None:
            await self._inner.shutdown()
        await self.budget.aclose()

    async def _take(self, chat: int | None, group: bool) -> None:
        """A stamp, and the wait for its moment. A message about to leave more than
        ``LATE_REPLY`` after its moment (a busy event loop, a slow stamp) takes a new one:
        the others' slots were planned around the old moment, not around a late arrival."""
        self.counted += 1
        for attempt in range(RETAKES + 1):
            at: datetime = await self.budget.take(chat, group=group)
            wait = min((at - self._clock()).total_seconds(), MAX_PACE_WAIT)
            if wait > 0:
                self.waited += wait
                await self._sleep(wait)
            if (self._clock() - at).total_seconds() <= LATE_REPLY or wait >= MAX_PACE_WAIT:
                return
            if attempt < RETAKES:
                self.retaken += 1
        logger.debug("a reply to %s leaves late for its stamp", chat)

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: Any,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        if rate_limit_args != LEDGER and puts_a_message(endpoint):
            await self._take(*_chat(data))
        if self._inner is None:
            return await callback(*args, **kwargs)
        inner_args = None if rate_limit_args == LEDGER else rate_limit_args
        return await self._inner.process_request(callback, args, kwargs, endpoint, data, inner_args)
