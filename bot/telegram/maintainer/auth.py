"""Who may run maintainer commands and press maintainer buttons: fail closed, checked for
every update by the one wrapper every maintainer handler is registered through.

A maintainer is a numeric Telegram user id in ``telegram.maintainer_ids`` (empty: nobody).
An update is run only when it is a *new* message typed by a maintainer in their own private
chat with the bot (not edited, not forwarded, not sent on behalf of a chat or via a bot), or a
button pressed by a maintainer on a message in their own private chat. Anything else changes
nothing: the sender gets "not allowed" (a maintainer also gets the reason); channel posts and
group messages not addressed to the bot get no answer at all.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable, Collection, Coroutine
from dataclasses import dataclass
from typing import Any, Final, Literal

from telegram import Update
from telegram.constants import ChatType

from bot.telegram.context import Context, cached_language
from bot.telegram.guard import ADDRESSED
from bot.telegram.maintainer.texts import MaintTexts, maint_texts
from bot.telegram.replies import reply

logger = logging.getLogger(__name__)

Callback = Callable[[Update, Context], Coroutine[Any, Any, None]]
Reason = Literal["outsider", "edited", "forwarded", "not_private", "channel", "silent"]
#: answered without saying why: the sender is not a maintainer (or we cannot tell who it is)
_OPAQUE: Final = frozenset({"outsider"})


@dataclass(frozen=True, slots=True)
class Denied:
    reason: Reason


def check(update: Update, maintainers: Collection[int]) -> Denied | None:
    """None when ``update`` may run a maintainer handler; else why not (pure, no I/O)."""
    query = update.callback_query
    if query is not None:
        user = query.from_user
        if user.is_bot or user.id not in maintainers:
            return Denied("outsider")
        message = query.message  # None for a button under an inline-mode message
        if message is None or message.chat.type != ChatType.PRIVATE or message.chat.id != user.id:
            return Denied("not_private")
        return None
    if update.channel_post is not None or update.edited_channel_post is not None:
        return Denied("channel")
    message = update.message or update.edited_message
    if message is None:
        return Denied("silent")
    if message.chat.type != ChatType.PRIVATE and not ADDRESSED.check_update(update):
        return Denied("silent")  # a group command for someone else: not ours to answer
    sender = message.from_user
    if sender is None or sender.is_bot or message.sender_chat is not None:
        return Denied("outsider")
    if sender.id not in maintainers:
        return Denied("outsider")
    if update.edited_message is not None:
        return Denied("edited")
    if message.forward_origin is not None or message.is_automatic_forward or message.via_bot:
        return Denied("forwarded")
    if message.chat.type != ChatType.PRIVATE or message.chat.id != sender.id:
        return Denied("not_private")
    return None


def _explain(denied: Denied, t: MaintTexts) -> str:
    if denied.reason in _OPAQUE:
        return t.not_allowed
    hint = {
        "edited": t.hint_edited,
        "forwarded": t.hint_forwarded,
        "not_private": t.hint_private,
    }.get(denied.reason, "")
    return f"{t.not_allowed}\n{hint}" if hint else t.not_allowed


async def refuse(update: Update, context: Context, denied: Denied) -> None:
    """Tell the sender (never in a channel, never to a group command meant for another bot)."""
    if denied.reason in ("channel", "silent"):
        return
    t = maint_texts(cached_language(update, context))
    text = _explain(denied, t)
    if update.callback_query is not None:
        await update.callback_query.answer(text[:200], show_alert=True)
    elif update.effective_message is not None:
        await reply(update, html.escape(text))


class Guarded:
    """A maintainer handler behind the authorization check. Every maintainer handler is
    registered as one of these (see :func:`bot.telegram.maintainer.setup.install`); the tests
    walk the Application's handlers to prove it."""

    __slots__ = ("callback", "name")

    def __init__(self, name: str, callback: Callback) -> None:
        self.name = name
        self.callback = callback

    async def __call__(self, update: Update, context: Context) -> None:
        maintainers = context.bot_data.settings.telegram.maintainer_ids
        denied = check(update, frozenset(maintainers))
        if denied is not None:
            user = update.effective_user
            logger.info(
                "maintainer %s refused (%s) for user %s",
                self.name,
                denied.reason,
                user.id if user else None,
            )
            await refuse(update, context, denied)
            return
        await self.callback(update, context)

    def __repr__(self) -> str:
        return f"Guarded({self.name!r})"
