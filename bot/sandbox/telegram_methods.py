"""Bot API method implementations for the fake Telegram server.

Each handler gets the :class:`TelegramState` and spec-validated parameters and
returns the ``result`` value or raises :class:`ApiError`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from bot.sandbox.telegram_html import HtmlParseError, parse_html, utf16_len
from bot.sandbox.telegram_state import SentMessage, TelegramState
from bot.sandbox.telegram_validate import ApiError, bad_request

MAX_TEXT = 4096
Handler = Callable[[TelegramState, dict[str, Any]], Awaitable[Any]]


def too_many(retry_after: int) -> ApiError:
    return ApiError(
        429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after}
    )


# -- chat checks ----------------------------------------------------------------


def _target_chat(state: TelegramState, chat_ref: int | str) -> int:
    """Resolve the chat and apply blocked/missing/migrated faults."""
    chat_id = state.resolve_chat(chat_ref)
    if chat_ref in state.missing_chats or chat_id in state.missing_chats:
        raise bad_request("chat not found")
    if chat_id in state.migrated:
        raise bad_request(
            "group chat was upgraded to a supergroup chat",
            {"migrate_to_chat_id": state.migrated[chat_id]},
        )
    if chat_ref in state.blocked_chats or chat_id in state.blocked_chats:
        kind = state.chat_type(chat_id)
        reason = {
            "private": "bot was blocked by the user",
            "group": "bot was kicked from the group chat",
        }.get(kind, f"bot is not a member of the {kind} chat")
        raise ApiError(403, f"Forbidden: {reason}")
    return chat_id


def _check_flood(state: TelegramState, chat_id: int) -> None:
    if not state.limits_enabled:
        return
    is_group = state.chat_type(chat_id) != "private"
    wait = state.limiter.retry_after(state, chat_id, is_group)
    if wait is not None:
        raise too_many(wait)


def _render(state: TelegramState, text: str, parse_mode: str | None) -> tuple[str, list[Any]]:
    """Visible text and entities; enforces the 1..4096 UTF-16 units rule."""
    mode = (parse_mode or "").lower()
    entities: list[Any] = []
    if mode == "html":
        try:
            parsed = parse_html(text, strict_entities=state.strict_entities)
        except HtmlParseError as exc:
            raise bad_request(f"can't parse entities: {exc}") from exc
        text, entities = parsed.text, parsed.entities
    elif mode not in ("", "markdown", "markdownv2"):
        raise bad_request("unsupported parse_mode")
    if not text.strip():
        raise bad_request("message text is empty")
    if utf16_len(text.strip()) > MAX_TEXT:
        raise bad_request("message is too long")
    return text, entities


def _message_json(state: TelegramState, sent: SentMessage) -> dict[str, Any]:
    chat = state.chat_object(sent.chat_id)
    message: dict[str, Any] = {
        "message_id": sent.message_id,
        "date": sent.date,
        "chat": chat,
        "text": sent.visible_text,
    }
    if chat["type"] == "channel":
        message["sender_chat"] = chat
    else:
        message["from"] = state.bot_user
    if sent.entities:
        message["entities"] = sent.entities
    if isinstance(sent.reply_markup, dict) and "inline_keyboard" in sent.reply_markup:
        message["reply_markup"] = sent.reply_markup
    if sent.edits:
        message["edit_date"] = int(state.wall_clock())
    return message


# -- method handlers --------------------------------------------------------------


async def _get_me(state: TelegramState, params: dict[str, Any]) -> Any:
    return state.bot_user


async def _send_message(state: TelegramState, params: dict[str, Any]) -> Any:
    chat_id = _target_chat(state, params["chat_id"])
    text, entities = _render(state, params["text"], params.get("parse_mode"))
    _check_flood(state, chat_id)
    sent = SentMessage(
        chat_id=chat_id,
        message_id=state.next_message_id(chat_id),
        text=params["text"],
        visible_text=text,
        parse_mode=params.get("parse_mode"),
        reply_markup=params.get("reply_markup"),
        params=params,
        entities=entities,
        date=int(state.wall_clock()),
    )
    state.limiter.record(chat_id, state.clock())
    state.sent.append(sent)
    return _message_json(state, sent)


async def _edit_message_text(state: TelegramState, params: dict[str, Any]) -> Any:
    if "text" not in params:
        raise bad_request("message text is empty")
    if "inline_message_id" in params:
        _render(state, params["text"], params.get("parse_mode"))
        return True
    if "chat_id" not in params:
        raise bad_request("chat_id is empty")
    if "message_id" not in params:
        raise bad_request("message identifier is not specified")
    chat_id = _target_chat(state, params["chat_id"])
    text, entities = _render(state, params["text"], params.get("parse_mode"))
    sent = state.find_message(chat_id, params["message_id"])
    if sent is None:
        raise bad_request("message to edit not found")
    markup = params.get("reply_markup")
    if text == sent.visible_text and entities == sent.entities and markup == sent.reply_markup:
        raise bad_request(
            "message is not modified: specified new message content and reply markup are "
            "exactly the same as a current content and reply markup of the message"
        )
    sent.edits.append(sent.text)
    sent.text, sent.visible_text, sent.entities = params["text"], text, entities
    sent.parse_mode, sent.reply_markup = params.get("parse_mode"), markup
    return _message_json(state, sent)


async def _delete_message(state: TelegramState, params: dict[str, Any]) -> Any:
    chat_id = _target_chat(state, params["chat_id"])
    sent = state.find_message(chat_id, params["message_id"])
    if sent is None:
        raise bad_request("message to delete not found")
    sent.deleted = True
    return True


async def _set_my_commands(state: TelegramState, params: dict[str, Any]) -> Any:
    state.commands = list(params["commands"])
    return True


async def _get_my_commands(state: TelegramState, params: dict[str, Any]) -> Any:
    return state.commands


async def _get_updates(state: TelegramState, params: dict[str, Any]) -> Any:
    offset = params.get("offset")
    if offset is not None:
        state.updates[:] = [u for u in state.updates if u["update_id"] >= offset]
    waited = 0.0
    timeout = min(float(params.get("timeout") or 0), state.max_poll_wait)
    while not state.updates and waited < timeout:
        await asyncio.sleep(0.02)
        waited += 0.02
    return state.updates[: params.get("limit") or 100]


async def _get_chat(state: TelegramState, params: dict[str, Any]) -> Any:
    chat_id = _target_chat(state, params["chat_id"])
    return {
        **state.chat_object(chat_id),
        "accent_color_id": 0,
        "max_reaction_count": 11,
        "accepted_gift_types": {
            "unlimited_gifts": False,
            "limited_gifts": False,
            "unique_gifts": False,
            "premium_subscription": False,
            "gifts_from_channels": False,
        },
    }


async def _true(state: TelegramState, params: dict[str, Any]) -> Any:
    return True


HANDLERS: dict[str, Handler] = {
    "getMe": _get_me,
    "sendMessage": _send_message,
    "editMessageText": _edit_message_text,
    "deleteMessage": _delete_message,
    "setMyCommands": _set_my_commands,
    "getMyCommands": _get_my_commands,
    "getUpdates": _get_updates,
    "getChat": _get_chat,
    "deleteWebhook": _true,
    "answerCallbackQuery": _true,
    "logOut": _true,
}
