"""Sending and editing replies: HTML parse mode, no link previews for lists.

A reply refused with 429 is sent once more after ``retry_after``: the chat may just have had a
drip post (one message a second per chat), or a broadcast in another process took the second.
The user gets the answer late rather than not at all. (The ledger's own sends are never retried
here: its 429 reaches the ledger, which pauses every send.)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from telegram import CallbackQuery, InlineKeyboardMarkup, LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, RetryAfter

logger = logging.getLogger(__name__)
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
MAX_REPLY_WAIT = 10.0  # seconds: a longer retry_after is not waited for (the reply is lost)
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
    await once_more(
        lambda: message.reply_text(
            text,
            parse_mode=ParseMode.HTML,
            reply_markup=markup,
            link_preview_options=None if preview else NO_PREVIEW,
        )
    )


async def edit(query: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None) -> None:
    """Replace the message a button belongs to; pressing the same button twice is fine."""
    try:
        await once_more(
            lambda: query.edit_message_text(
                text,
                parse_mode=ParseMode.HTML,
                reply_markup=markup,
                link_preview_options=NO_PREVIEW,
            )
        )
    except BadRequest as exc:
        if "not modified" not in str(exc).lower():
            raise
        logger.debug("message %s unchanged", query.message and query.message.message_id)
