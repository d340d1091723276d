"""Replies and edits sent without building the answer's Message.

``Message.reply_text`` and ``CallbackQuery.edit_message_text`` turn Telegram's answer into a
``Message``: every entity of an HTML reply (each bold name, each link of a list) and every
keyboard button becomes a PTB object, which costs more than building and sending the request
(about 0.5-1 ms of CPU for a /week reply, a quarter of a command's cost; the bot never reads
that answer). These send the very request those shortcuts send (the same chat, quoting,
forum topic, business connection and direct messages topic) through ``Bot.do_api_request``
with no return type: PTB still applies its defaults and rate limiter and maps every error
(``RetryAfter``, ``BadRequest``, ...); only the answer stays raw JSON. The ledger's sends do
the same (``bot.publish.telegram``). (Not for bots with ``arbitrary_callback_data``, whose
keyboards ``ExtBot.send_message`` rewrites: this bot's callback data is its own short format.)

Keyboards and link preview options go out as their JSON dicts, kept per object: a kept answer's
keyboard (``bot.telegram.memo``) is the same frozen object reply after reply, and turning it
into a dict costs more than sending the dict (tens of microseconds, hundreds for /settings).
"""

from __future__ import annotations

import warnings
from collections import OrderedDict
from typing import Any, Final

from telegram import (
    CallbackQuery,
    Chat,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    ReplyParameters,
    TelegramObject,
)
from telegram.warnings import PTBUserWarning

#: PTB advises Bot.send_message over do_api_request("sendMessage"); the raw answer is the point
ADVICE: Final = r"Please use 'Bot\.(sendMessage|editMessageText)' instead of 'Bot\.do_api_request"
warnings.filterwarnings("ignore", ADVICE, PTBUserWarning)
KEPT_DICTS: Final = 256
_dicts: OrderedDict[int, tuple[TelegramObject, dict[str, Any]]] = OrderedDict()


def as_dict(value: TelegramObject | None) -> dict[str, Any] | None:
    """``value.to_dict()``, kept per object (PTB's objects are frozen once built): keyed by
    identity, holding the object so that its id is not reused meanwhile; bounded."""
    if value is None:
        return None
    key = id(value)
    found = _dicts.get(key)
    if found is not None and found[0] is value:
        _dicts.move_to_end(key)
        return found[1]
    made = value.to_dict()
    _dicts[key] = (value, made)
    while len(_dicts) > KEPT_DICTS:
        _dicts.popitem(last=False)
    return made


def _quote(message: Message) -> ReplyParameters | None:
    """``reply_text``'s default quoting: the bot's ``Defaults.do_quote`` when set, else quote
    the command in groups, not in private chats."""
    defaults = getattr(message.get_bot(), "defaults", None)
    default = defaults.do_quote if defaults else None
    if (default is None and message.chat.type != Chat.PRIVATE) or default:
        return ReplyParameters(message.message_id)
    return None


async def send_html(
    message: Message,
    text: str,
    markup: InlineKeyboardMarkup | None,
    link_preview: LinkPreviewOptions | None,
) -> Any:
    """``message.reply_text(text, parse_mode=HTML, reply_markup=markup,
    link_preview_options=link_preview)``; returns Telegram's raw answer."""
    thread = message.message_thread_id if message.is_topic_message else None
    topic = message.direct_messages_topic
    parameters: dict[str, Any] = {
        "chat_id": message.chat_id,
        "text": text,
        "parse_mode": "HTML",
        "link_preview_options": as_dict(link_preview),
        "reply_parameters": _quote(message),
        "reply_markup": as_dict(markup),
        "message_thread_id": thread,
        "business_connection_id": message.business_connection_id,
        "direct_messages_topic_id": topic.topic_id if topic else None,
    }
    return await message.get_bot().do_api_request("sendMessage", parameters)


async def edit_html(
    query: CallbackQuery,
    text: str,
    markup: InlineKeyboardMarkup | None,
    link_preview: LinkPreviewOptions | None,
) -> Any:
    """``query.edit_message_text(text, parse_mode=HTML, reply_markup=markup,
    link_preview_options=link_preview)``; returns Telegram's raw answer (True for an inline
    message). Raises TypeError for an inaccessible message, as the shortcut does."""
    parameters: dict[str, Any] = {
        "text": text,
        "parse_mode": "HTML",
        "link_preview_options": as_dict(link_preview),
        "reply_markup": as_dict(markup),
    }
    if query.inline_message_id:
        parameters["inline_message_id"] = query.inline_message_id
    else:
        message = query.message
        if not isinstance(message, Message):
            raise TypeError("Cannot edit an inaccessible message")
        parameters["chat_id"] = message.chat_id
        parameters["message_id"] = message.message_id
        parameters["business_connection_id"] = message.business_connection_id
    return await query.get_bot().do_api_request("editMessageText", parameters)
