"""Runs before every handler: slows down a flooding user without affecting anyone else."""

from __future__ import annotations

import html

from telegram import Message, MessageEntity, Update
from telegram.constants import ChatType
from telegram.ext import ApplicationHandlerStop, filters

from bot.telegram.context import Context, cached_language
from bot.telegram.flood import FloodGate
from bot.telegram.replies import reply
from bot.telegram.texts import texts


class _Addressed(filters.MessageFilter):
    """A command naming this bot: ``/week@digest_bot`` (how groups must address it)."""

    __slots__ = ()

    def filter(self, message: Message) -> bool:
        entity = message.entities[0] if message.entities else None
        if entity is None or entity.type != MessageEntity.BOT_COMMAND or entity.offset != 0:
            return False
        command = message.parse_entity(entity)
        _, at, name = command.partition("@")
        username = message.get_bot().username
        return bool(at) and bool(username) and name.lower() == username.lower()


ADDRESSED = _Addressed(name="addressed")
#: where the bot answers commands: private chats, and commands addressed to it elsewhere
IN_SCOPE = filters.ChatType.PRIVATE | ADDRESSED


def _out_of_scope(update: Update) -> bool:
    """A group message the bot does not answer: it must not count against the sender."""
    chat = update.effective_chat
    if update.message is None or chat is None or chat.type == ChatType.PRIVATE:
        return False
    return not ADDRESSED.check_update(update)


class Throttle:
    """Messages and button presses share one gate per user; inline queries (one per keystroke)
    have their own, larger one. Beyond the limit: one "slow down", then silence."""

    def __init__(self, messages: FloodGate, inline: FloodGate) -> None:
        self.messages = messages
        self.inline = inline

    async def __call__(self, update: Update, context: Context) -> None:
        user = update.effective_user
        answered = (update.message, update.callback_query, update.inline_query)
        if user is None or all(u is None for u in answered) or _out_of_scope(update):
            return
        gate = self.inline if update.inline_query is not None else self.messages
        verdict = gate.check(user.id, context.bot_data.clock().timestamp())
        if verdict == "ok":
            return
        t = texts(cached_language(update, context))
        if update.callback_query is not None:
            await update.callback_query.answer(t.slow_down if verdict == "warn" else None)
        elif update.inline_query is not None:
            await update.inline_query.answer([], cache_time=0)
        elif verdict == "warn":
            await reply(update, html.escape(t.slow_down))
        raise ApplicationHandlerStop
