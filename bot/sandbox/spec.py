"""Load the Telegram Bot API spec (methods, fields, types) for the fake server.

The spec is the JSON file at ``shared/specs/telegram-bot-api.json`` (a
``{"methods": {name: {"fields": [...], "returns": [...]}}, "types": {...}}``
document).  Its location is, in order: the ``spec_path`` argument, the
``DIGESTBOT_TELEGRAM_SPEC`` environment variable, ``<repo>/../shared/specs/``.
When the file is absent a small built-in spec of the methods digestbot uses is
returned instead (``TelegramSpec.builtin`` is then True).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

ENV_VAR = "DIGESTBOT_TELEGRAM_SPEC"
_REPO = Path(__file__).resolve().parents[2]
DEFAULT_PATH = _REPO.parent / "shared" / "specs" / "telegram-bot-api.json"


@dataclass(frozen=True)
class FieldSpec:
    name: str
    types: tuple[str, ...]
    required: bool


@dataclass(frozen=True)
class ObjectSpec:
    """A method's parameters or an object type's fields (or a union of subtypes)."""

    name: str
    fields: dict[str, FieldSpec]
    subtypes: tuple[str, ...] = ()
    returns: tuple[str, ...] = ()


@dataclass(frozen=True)
class TelegramSpec:
    methods: dict[str, ObjectSpec]
    types: dict[str, ObjectSpec]
    version: str
    builtin: bool = False

    def method(self, name: str) -> ObjectSpec | None:
        """Look a method up case-insensitively, as the Bot API does."""
        found = self.methods.get(name)
        if found is None:
            lowered = name.lower()
            found = next((m for k, m in self.methods.items() if k.lower() == lowered), None)
        return found


def _f(name: str, types: str, required: bool = False) -> dict[str, Any]:
    return {"name": name, "types": types.split("|"), "required": required}


_CHAT = _f("chat_id", "Integer|String", True)
_MARKUP = _f("reply_markup", "InlineKeyboardMarkup")
_BUILTIN: dict[str, Any] = {
    "version": "builtin",
    "methods": {
        "getMe": {"returns": ["User"]},
        "logOut": {"returns": ["Boolean"]},
        "sendMessage": {
            "returns": ["Message"],
            "fields": [
                _CHAT,
                _f("text", "String", True),
                _f("parse_mode", "String"),
                _f("entities", "Array of MessageEntity"),
                _f("message_thread_id", "Integer"),
                _f("link_preview_options", "LinkPreviewOptions"),
                _f("disable_notification", "Boolean"),
                _f("protect_content", "Boolean"),
                _f("reply_parameters", "ReplyParameters"),
                _MARKUP,
            ],
        },
        "editMessageText": {
            "returns": ["Message", "Boolean"],
            "fields": [
                _f("chat_id", "Integer|String"),
                _f("message_id", "Integer"),
                _f("inline_message_id", "String"),
                _f("text", "String", True),
                _f("parse_mode", "String"),
                _f("entities", "Array of MessageEntity"),
                _f("link_preview_options", "LinkPreviewOptions"),
                _MARKUP,
            ],
        },
        "deleteMessage": {
            "returns": ["Boolean"],
            "fields": [_CHAT, _f("message_id", "Integer", True)],
        },
        "setMyCommands": {
            "returns": ["Boolean"],
            "fields": [_f("commands", "Array of BotCommand", True), _f("language_code", "String")],
        },
        "getUpdates": {
            "returns": ["Array of Update"],
            "fields": [
                _f("offset", "Integer"),
                _f("limit", "Integer"),
                _f("timeout", "Integer"),
                _f("allowed_updates", "Array of String"),
            ],
        },
        "deleteWebhook": {
            "returns": ["Boolean"],
            "fields": [_f("drop_pending_updates", "Boolean")],
        },
        "getChat": {"returns": ["ChatFullInfo"], "fields": [_CHAT]},
        "answerCallbackQuery": {
            "returns": ["Boolean"],
            "fields": [
                _f("callback_query_id", "String", True),
                _f("text", "String"),
                _f("show_alert", "Boolean"),
                _f("url", "String"),
                _f("cache_time", "Integer"),
            ],
        },
    },
    "types": {
        "InlineKeyboardMarkup": {
            "fields": [_f("inline_keyboard", "Array of Array of InlineKeyboardButton", True)]
        },
        "InlineKeyboardButton": {
            "fields": [
                _f("text", "String", True),
                _f("url", "String"),
                _f("callback_data", "String"),
            ]
        },
        "LinkPreviewOptions": {
            "fields": [
                _f("is_disabled", "Boolean"),
                _f("url", "String"),
                _f("prefer_small_media", "Boolean"),
                _f("prefer_large_media", "Boolean"),
                _f("show_above_text", "Boolean"),
            ]
        },
        "BotCommand": {
            "fields": [_f("command", "String", True), _f("description", "String", True)]
        },
    },
}


def _objects(raw: dict[str, Any]) -> dict[str, ObjectSpec]:
    out: dict[str, ObjectSpec] = {}
    for name, body in raw.items():
        fields = {
            f["name"]: FieldSpec(f["name"], tuple(f["types"]), bool(f["required"]))
            for f in body.get("fields", [])
        }
        out[name] = ObjectSpec(
            name, fields, tuple(body.get("subtypes", ())), tuple(body.get("returns", ()))
        )
    return out


def _build(raw: dict[str, Any], builtin: bool) -> TelegramSpec:
    return TelegramSpec(
        _objects(raw["methods"]), _objects(raw.get("types", {})), str(raw.get("version")), builtin
    )


def resolve_spec_path(spec_path: str | os.PathLike[str] | None = None) -> Path:
    if spec_path is not None:
        return Path(spec_path)
    env = os.environ.get(ENV_VAR)
    return Path(env) if env else DEFAULT_PATH


@lru_cache(maxsize=8)
def _load_cached(path: Path) -> TelegramSpec:
    if not path.is_file():
        return _build(_BUILTIN, builtin=True)
    with path.open(encoding="utf-8") as handle:
        return _build(json.load(handle), builtin=False)


def load_spec(spec_path: str | os.PathLike[str] | None = None) -> TelegramSpec:
    """Return the parsed spec (cached per path); the built-in one if the file is absent."""
    return _load_cached(resolve_spec_path(spec_path).resolve())


def builtin_spec() -> TelegramSpec:
    return _build(_BUILTIN, builtin=True)
