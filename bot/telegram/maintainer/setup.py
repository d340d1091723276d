"""Wiring: every maintainer handler goes through :func:`install`, which wraps it in the
authorization check (:class:`~bot.telegram.maintainer.auth.Guarded`); there is no other way in.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Final

from telegram import Bot, BotCommand, BotCommandScopeChat, Update
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    filters,
)

from bot.telegram.context import Services
from bot.telegram.maintainer import buttons, commands
from bot.telegram.maintainer.auth import Callback, Guarded
from bot.telegram.maintainer.keyboards import PATTERN
from bot.telegram.maintainer.texts import MAINT_EN, MAINT_ZH
from bot.telegram.texts import EN, ZH

logger = logging.getLogger(__name__)

COMMANDS: Final[dict[str, Callback]] = {
    "queue": commands.queue,
    "add": commands.add,
    "edit": commands.edit,
    "drop": commands.drop,
    "move": commands.move,
    "top": commands.top,
    "shuffle": commands.shuffle,
    "now": commands.now,
    "pause": commands.pause,
    "resume": commands.resume,
    "slots": commands.slots,
    "undo": commands.undo,
    "preview": commands.preview,
    "import": commands.import_command,
    "status": commands.status,
    "stats": commands.stats,
    "audit": commands.audit,
}
#: new messages, edits and channel posts all reach the handlers, so that each is refused
#: explicitly by the check instead of falling through to another handler
EVERY_MESSAGE: Final = filters.UpdateType.MESSAGES | filters.UpdateType.CHANNEL_POSTS
#: a document with the caption /import (anyone: refused unless a maintainer), or any document
#: a maintainer sends (imported; a subscriber's documents still reach the subscriber handlers)
_IMPORT_CAPTION: Final = filters.CaptionRegex(r"^/import(?:@\w+)?(?:\s|$)")


class ButtonHandler(CallbackQueryHandler[Any, Any]):
    """Presses whose data starts with ``m|`` only (PTB's own handler also takes a press with
    empty data whatever the pattern; that one belongs to the subscribers' "expired" answer)."""

    def check_update(self, update: object) -> bool | object | None:
        query = update.callback_query if isinstance(update, Update) else None
        if query is not None and not query.data:
            return None
        return super().check_update(update)


def handlers(maintainer_ids: Sequence[int]) -> list[BaseHandler[Any, Any, Any]]:
    """Every maintainer handler, each behind the check."""
    found: list[BaseHandler[Any, Any, Any]] = [
        CommandHandler(name, Guarded(name, callback), filters=EVERY_MESSAGE)
        for name, callback in COMMANDS.items()
    ]
    documents = filters.Document.ALL & EVERY_MESSAGE
    maintainers = filters.User(user_id=list(maintainer_ids), allow_empty=False)
    senders = _IMPORT_CAPTION | (maintainers & filters.ChatType.PRIVATE)
    found.append(MessageHandler(documents & senders, Guarded("import-file", commands.document)))
    found.append(ButtonHandler(Guarded("button", buttons.on_button), pattern=PATTERN))
    return found


def install(application: Application[Any, Any, Any, Any, Any, Any], services: Services) -> None:
    """Add the maintainer handlers (group 0, before the subscribers' catch-all handlers)."""
    application.add_handlers(handlers(services.settings.telegram.maintainer_ids))


async def publish_commands(bot: Bot, maintainer_ids: Sequence[int]) -> None:
    """Each maintainer's chat gets the subscriber commands plus theirs, in English and
    Chinese (``BotCommandScopeChat``). A maintainer who has not started the bot yet is
    logged and skipped."""
    for chat_id in maintainer_ids:
        for t, m, language in ((EN, MAINT_EN, None), (ZH, MAINT_ZH, "zh")):
            menu = [BotCommand(n, d) for n, d in (*t.commands, *m.commands)]
            try:
                await bot.set_my_commands(
                    menu, scope=BotCommandScopeChat(chat_id), language_code=language
                )
            except TelegramError as exc:
                logger.warning("could not set the maintainer menu for %s: %s", chat_id, exc)
                break
