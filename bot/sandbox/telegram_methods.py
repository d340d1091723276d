"""Bot API method implementations for the fake Telegram server.

Each handler gets the :class:`TelegramState` and spec-validated parameters and
returns the ``result`` value or raises :class:`ApiError`.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from bot.sandbox.telegram_html import HtmlParseError, parse_html, utf16_len
from bot.sandbox.telegram_state import SentMessage, TelegramState
from bot.sandbox.telegram_validate import ApiError, bad_request

MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_INLINE_RESULTS = 50
QUERY_INVALID = "query is too old and response timeout expired or query ID is invalid"
_COMMAND = re.compile(r"[a-z0-9_]{1,32}")
_WEBHOOK_PORTS = (None, 80, 88, 443, 8443)
_SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")  # setWebhook secret_token
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
    if not state.is_known(chat_id):
        if chat_id > 0:
            raise ApiError(403, "Forbidden: bot can't initiate conversation with a user")
        raise bad_request("chat not found")
    return chat_id


def _check_flood(state: TelegramState, chat_id: int, *, paid: bool = False) -> None:
    if not state.limits_enabled:
        return
    is_group = state.chat_type(chat_id) != "private"
    wait = state.limiter.retry_after(state, chat_id, is_group, paid=paid)
    if wait is not None:
        raise too_many(wait)


def _render(
    state: TelegramState, text: str, parse_mode: str | None, *, caption: bool = False
) -> tuple[str, list[Any]]:
    """Visible text and entities; enforces the 1..4096 UTF-16 units rule (captions: 0..1024)."""
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
    if caption:
        if utf16_len(text.strip()) > MAX_CAPTION:
            raise bad_request("message caption is too long")
        return text, entities
    if not text.strip():
        raise bad_request("message text is empty")
    if utf16_len(text.strip()) > MAX_TEXT:
        raise bad_request("message is too long")
    return text, entities


def _message_json(state: TelegramState, sent: SentMessage) -> dict[str, Any]:
    chat = state.chat_object(sent.chat_id)
    message: dict[str, Any] = {"message_id": sent.message_id, "date": sent.date, "chat": chat}
    if sent.kind == "text":
        message["text"] = sent.visible_text
    else:
        message[sent.kind] = sent.media
        if sent.visible_text:
            message["caption"] = sent.visible_text
    if chat["type"] == "channel":
        message["sender_chat"] = chat
    else:
        message["from"] = state.bot_user
    if sent.entities:
        message["entities" if sent.kind == "text" else "caption_entities"] = sent.entities
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
    _check_flood(state, chat_id, paid=params.get("allow_paid_broadcast") is True)
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


async def _edit_message_reply_markup(state: TelegramState, params: dict[str, Any]) -> Any:
    if "inline_message_id" in params:
        return True
    if "chat_id" not in params:
        raise bad_request("chat_id is empty")
    if "message_id" not in params:
        raise bad_request("message identifier is not specified")
    chat_id = _target_chat(state, params["chat_id"])
    sent = state.find_message(chat_id, params["message_id"])
    if sent is None:
        raise bad_request("message to edit not found")
    markup = params.get("reply_markup")
    if (markup or None) == (sent.reply_markup or None):
        raise bad_request(
            "message is not modified: specified new message content and reply markup are "
            "exactly the same as a current content and reply markup of the message"
        )
    sent.reply_markup = markup
    return _message_json(state, sent)


async def _send_media(state: TelegramState, params: dict[str, Any], kind: str) -> Any:
    chat_id = _target_chat(state, params["chat_id"])
    caption = params.get("caption") or ""
    text, entities = _render(state, caption, params.get("parse_mode"), caption=True)
    _check_flood(state, chat_id)
    message_id = state.next_message_id(chat_id)
    file_id = f"sandbox-{kind}-{chat_id}-{message_id}"
    media: Any = {"file_id": file_id, "file_unique_id": file_id[-32:]}
    if kind == "photo":
        media = [{**media, "width": 1280, "height": 720}]
    elif isinstance(params[kind], str) and params[kind].startswith("<upload:"):
        media["file_name"] = params[kind][len("<upload:") : -1]
    sent = SentMessage(
        chat_id=chat_id,
        message_id=message_id,
        text=caption,
        visible_text=text,
        parse_mode=params.get("parse_mode"),
        reply_markup=params.get("reply_markup"),
        params=params,
        entities=entities,
        date=int(state.wall_clock()),
        kind=kind,
        media=media,
    )
    state.limiter.record(chat_id, state.clock())
    state.sent.append(sent)
    return _message_json(state, sent)


async def _send_document(state: TelegramState, params: dict[str, Any]) -> Any:
    return await _send_media(state, params, "document")


async def _send_photo(state: TelegramState, params: dict[str, Any]) -> Any:
    return await _send_media(state, params, "photo")


MAX_DOWNLOAD = 20 * 1024 * 1024  # bots may download files of up to 20 MB


async def _get_file(state: TelegramState, params: dict[str, Any]) -> Any:
    found = state.files.get(params["file_id"])
    if found is None:
        raise bad_request("invalid file_id")
    path, content = found
    if len(content) > MAX_DOWNLOAD:
        raise bad_request("file is too big")
    file_id = params["file_id"]
    return {
        "file_id": file_id,
        "file_unique_id": file_id[-32:],
        "file_size": len(content),
        "file_path": path,
    }


async def _answer_callback_query(state: TelegramState, params: dict[str, Any]) -> Any:
    query_id = params["callback_query_id"]
    if query_id not in state.open_callback_queries:
        raise bad_request(QUERY_INVALID)
    state.open_callback_queries.discard(query_id)
    state.callback_answers.append(params)
    return True


async def _answer_inline_query(state: TelegramState, params: dict[str, Any]) -> Any:
    query_id = params["inline_query_id"]
    if query_id not in state.open_inline_queries:
        raise bad_request(QUERY_INVALID)
    results: list[dict[str, Any]] = params["results"]
    if len(results) > MAX_INLINE_RESULTS:
        raise bad_request("RESULTS_TOO_MUCH")
    ids = [str(result["id"]) for result in results]
    if any(not 1 <= len(i.encode("utf-8")) <= 64 for i in ids):
        raise bad_request("RESULT_ID_INVALID")
    if len(set(ids)) != len(ids):
        raise bad_request("RESULT_ID_DUPLICATE")
    for result in results:
        content = result.get("input_message_content")
        if isinstance(content, dict) and "message_text" in content:
            _render(state, content["message_text"], content.get("parse_mode"))
    state.open_inline_queries.discard(query_id)
    state.inline_answers.append(params)
    return True


def _commands_key(params: dict[str, Any]) -> tuple[str, str] | None:
    """None for the default scope without language (``state.commands``)."""
    scope = params.get("scope") or {"type": "default"}
    language = params.get("language_code") or ""
    if scope == {"type": "default"} and not language:
        return None
    return json.dumps(scope, sort_keys=True), language


async def _set_my_commands(state: TelegramState, params: dict[str, Any]) -> Any:
    commands = list(params["commands"])
    if len(commands) > 100:
        raise bad_request("BOT_COMMANDS_TOO_MUCH")
    for command in commands:
        if not _COMMAND.fullmatch(command["command"]):
            raise bad_request("BOT_COMMAND_INVALID")
        if not 1 <= len(command["description"].strip()) <= 256:
            raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
    key = _commands_key(params)
    if key is None:
        state.commands = commands
    else:
        state.scoped_commands[key] = commands
    return True


async def _get_my_commands(state: TelegramState, params: dict[str, Any]) -> Any:
    key = _commands_key(params)
    return state.commands if key is None else state.scoped_commands.get(key, [])


async def _delete_my_commands(state: TelegramState, params: dict[str, Any]) -> Any:
    key = _commands_key(params)
    if key is None:
        state.commands = []
    else:
        state.scoped_commands.pop(key, None)
    return True


async def _set_webhook(state: TelegramState, params: dict[str, Any]) -> Any:
    url = params.get("url") or ""
    if url:
        parts = urlsplit(url)
        if parts.scheme != "https" or not parts.hostname:
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        if parts.port not in _WEBHOOK_PORTS:
            raise bad_request(
                "bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443"
            )
    secret = params.get("secret_token")
    if secret is not None and not _SECRET_TOKEN.fullmatch(secret):
        raise bad_request("bad webhook: secret token contains unallowed characters")
    connections = params.get("max_connections")
    if connections is not None and not 1 <= connections <= 100:
        raise bad_request("bad webhook: max_connections must be between 1 and 100")
    if params.get("drop_pending_updates"):
        state.updates.clear()
    state.webhook_url = url
    state.webhook_secret = secret if url else None
    if "allowed_updates" in params:  # "if not specified, the previous setting will be used"
        state.webhook_allowed_updates = list(params["allowed_updates"])
    return True


async def _delete_webhook(state: TelegramState, params: dict[str, Any]) -> Any:
    if params.get("drop_pending_updates"):
        state.updates.clear()
    state.webhook_url = ""
    state.webhook_secret = None
    return True


async def _get_webhook_info(state: TelegramState, params: dict[str, Any]) -> Any:
    return {
        "url": state.webhook_url,
        "has_custom_certificate": False,
        "pending_update_count": len(state.updates),
        **(
            {"allowed_updates": state.webhook_allowed_updates}
            if state.webhook_url and state.webhook_allowed_updates is not None
            else {}
        ),
    }


async def _get_chat_member(state: TelegramState, params: dict[str, Any]) -> Any:
    chat_id = _target_chat(state, params["chat_id"])
    user_id = params["user_id"]
    if user_id == state.bot_user["id"]:
        if state.chat_type(chat_id) == "private":
            return {"status": "member", "user": state.bot_user}
        member_only = {state.resolve_chat(c) for c in state.member_only_chats}
        if chat_id in member_only:
            return {"status": "member", "user": state.bot_user}
        return {"status": "administrator", "user": state.bot_user, **_ADMIN_RIGHTS}
    user = {"id": user_id, "is_bot": False, "first_name": "Sandbox User"}
    if chat_id == user_id or user_id in state.members.get(chat_id, set()):
        return {"status": "member", "user": user}
    return {"status": "left", "user": user}


_ADMIN_RIGHTS = {
    "can_be_edited": False,
    "is_anonymous": False,
    "can_manage_chat": True,
    "can_delete_messages": True,
    "can_manage_video_chats": False,
    "can_restrict_members": False,
    "can_promote_members": False,
    "can_change_info": False,
    "can_invite_users": True,
    "can_post_stories": False,
    "can_edit_stories": False,
    "can_delete_stories": False,
    "can_post_messages": True,
    "can_edit_messages": True,
}


async def _get_updates(state: TelegramState, params: dict[str, Any]) -> Any:
    if state.webhook_url:
        raise ApiError(
            409,
            "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook "
            "to delete the webhook first",
        )
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
    "editMessageReplyMarkup": _edit_message_reply_markup,
    "deleteMessage": _delete_message,
    "answerCallbackQuery": _answer_callback_query,
    "answerInlineQuery": _answer_inline_query,
    "setMyCommands": _set_my_commands,
    "getMyCommands": _get_my_commands,
    "deleteMyCommands": _delete_my_commands,
    "getUpdates": _get_updates,
    "setWebhook": _set_webhook,
    "deleteWebhook": _delete_webhook,
    "getWebhookInfo": _get_webhook_info,
    "getChat": _get_chat,
    "getChatMember": _get_chat_member,
    "sendDocument": _send_document,
    "sendPhoto": _send_photo,
    "getFile": _get_file,
    "close": _true,
    "logOut": _true,
}
