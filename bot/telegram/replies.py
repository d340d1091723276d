"""Sending and editing replies: HTML parse mode, no link previews for lists."""

from __future__ import annotations

import logging

from telegram import CallbackQuery, InlineKeyboardMarkup, LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest

logger = logging.getLogger(__name__)
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


async def reply(
    update: Update, text: str, markup: InlineKeyboardMarkup | None = None, *, preview: bool = False
) -> None:
    message = update.effective_message
    if message is None:
        return
    await message.reply_text(
        text,
        parse_mode=ParseMode.HTML,
        reply_markup=markup,
        link_preview_options=None if preview else NO_PREVIEW,
    )


async def edit(query: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None) -> None:
    """Replace the message a button belongs to; pressing the same button twice is fine."""
    try:
        await query.edit_message_text(
            text, parse_mode=ParseMode.HTML, reply_markup=markup, link_preview_options=NO_PREVIEW
        )
    except BadRequest as exc:
        if "not modified" not in str(exc).lower():
            raise
        logger.debug("message %s unchanged", query.message and query.message.message_id)
