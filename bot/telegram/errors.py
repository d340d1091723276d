"""The one error handler: a short answer to every update that failed, the rest to the log.

``DigestbotError`` (the user can act on it) -> its message, in the user's language for the
errors we know; anything else -> logged with its traceback and "something went wrong".
Messages get a reply, button presses an answerCallbackQuery, inline queries an empty answer.
"""

from __future__ import annotations

import logging
from typing import Final

from telegram import InlineQueryResultsButton, Update
from telegram.error import TelegramError

from bot.domain.search import QueryTooLong
from bot.errors import DigestbotError
from bot.services.archive import UnknownIssue
from bot.telegram import render
from bot.telegram.context import Context, cached_language
from bot.telegram.replies import reply
from bot.telegram.texts import Texts, texts

logger = logging.getLogger(__name__)
CALLBACK_ANSWER_CHARS: Final = 200  # Telegram's limit for answerCallbackQuery text
INLINE_BUTTON_CHARS: Final = 64


def explain(error: BaseException | None, t: Texts) -> str:
    """The one line the user sees (plain text, not yet escaped)."""
    if isinstance(error, UnknownIssue):
        return t.unknown_issue.format(key=render.plain(error.key, 40))
    if isinstance(error, QueryTooLong):
        return t.query_too_long.format(limit=error.limit)
    if isinstance(error, DigestbotError):
        return render.plain(str(error), 500)
    return t.oops


async def on_error(update: object, context: Context) -> None:
    error = context.error
    if not isinstance(error, DigestbotError):
        logger.error("update %s failed", _describe(update), exc_info=error)
    if not isinstance(update, Update):
        return
    t = texts(cached_language(update, context))
    try:
        await _answer(update, explain(error, t), t)
    except TelegramError as exc:
        logger.warning("could not tell the user about the failure: %s", exc)


async def _answer(update: Update, text: str, t: Texts) -> None:
    if update.callback_query is not None:
        await update.callback_query.answer(text[:CALLBACK_ANSWER_CHARS], show_alert=True)
    elif update.inline_query is not None:
        button = InlineQueryResultsButton(text[:INLINE_BUTTON_CHARS], start_parameter="help")
        await update.inline_query.answer([], cache_time=0, button=button)
    elif update.effective_message is not None and update.effective_chat is not None:
        await reply(update, render.Html().text(text).render())


def _describe(update: object) -> str:
    if isinstance(update, Update):
        return f"{update.update_id} from user {update.effective_user and update.effective_user.id}"
    return repr(update)[:200]
