"""Wiring: every handler, the flood guard and the error handler onto a PTB Application."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Sequence
from typing import Any, Final

from telegram import Bot, BotCommand, Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    InlineQueryHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.telegram import maintainer, subscriber
from bot.telegram.buttons import on_button
from bot.telegram.context import Context, Services
from bot.telegram.errors import on_error
from bot.telegram.flood import FloodGate
from bot.telegram.guard import IN_SCOPE, Throttle
from bot.telegram.inline import on_inline_query
from bot.telegram.texts import EN, ZH

MESSAGES_PER_MINUTE: Final = 20
INLINE_PER_MINUTE: Final = 60
GUARD_GROUP: Final = -1
#: for ``run_polling(allowed_updates=...)``: every update type the handlers answer
ALLOWED_UPDATES: Final = [
    Update.MESSAGE,
    Update.CALLBACK_QUERY,
    Update.INLINE_QUERY,
    Update.MY_CHAT_MEMBER,
]

Handler = Callable[[Update, Context], Coroutine[Any, Any, None]]
COMMANDS: Final[dict[str, Handler]] = {
    "start": subscriber.start,
    "help": subscriber.help_command,
    "week": subscriber.week,
    "issue": subscriber.issue,
    "latest": subscriber.latest,
    "picks": subscriber.picks,
    "search": subscriber.search,
    "subscribe": subscriber.subscribe,
    "unsubscribe": subscriber.unsubscribe,
    "settings": subscriber.settings,
}


def install(
    application: Application[Any, Any, Any, Any, Any, Any],
    services: Services,
    *,
    messages_per_minute: int = MESSAGES_PER_MINUTE,
    inline_per_minute: int = INLINE_PER_MINUTE,
) -> None:
    """Add every handler and the error handler; ``bot_data`` becomes ``services``."""
    application.bot_data = services
    throttle = Throttle(FloodGate(messages_per_minute), FloodGate(inline_per_minute))
    application.add_handler(TypeHandler(Update, throttle), group=GUARD_GROUP)
    new_message = filters.UpdateType.MESSAGE
    for name, callback in COMMANDS.items():
        application.add_handler(CommandHandler(name, callback, filters=new_message & IN_SCOPE))
    maintainer.install(application, services)  # before the catch-alls below; each checks ids
    application.add_handlers(
        [
            MessageHandler(new_message & filters.COMMAND & IN_SCOPE, subscriber.unknown),
            MessageHandler(
                new_message & filters.ChatType.PRIVATE & filters.TEXT, subscriber.plain_text
            ),
            MessageHandler(new_message & filters.ChatType.PRIVATE, subscriber.not_text),
            CallbackQueryHandler(on_button),
            InlineQueryHandler(on_inline_query),
            ChatMemberHandler(subscriber.member_changed, ChatMemberHandler.MY_CHAT_MEMBER),
        ]
    )
    application.add_error_handler(on_error)


async def publish_commands(bot: Bot, maintainer_ids: Sequence[int] = ()) -> None:
    """setMyCommands in English (the default) and Chinese (``language_code="zh"``); each
    maintainer's chat also gets the maintainer commands."""
    for t, language in ((EN, None), (ZH, "zh")):
        commands = [BotCommand(name, description) for name, description in t.commands]
        await bot.set_my_commands(commands, language_code=language)
    await maintainer.publish_commands(bot, maintainer_ids)
