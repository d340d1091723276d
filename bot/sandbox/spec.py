"""Load the Telegram Bot API spec (methods, fields, types) for the fake server.

The spec is the JSON file at ``shared/specs/telegram-bot-api.json`` (a
``{"methods": {name: {"fields": [...], "returns": [...]}}, "types": {...}}``
document).  Its location is, in order: the ``spec_path`` argument, the
``DIGESTBOT_TELEGRAM_SPEC`` environment variable, ``<repo>/../shared/specs/``.
When the file is absent the built-in spec is returned instead
(``TelegramSpec.builtin`` is then True): ``telegram_builtin_spec.json`` beside
this module, the :data:`BUILTIN_METHODS` digestbot calls plus every type their
parameters reach, cut from the full file by :func:`subset` (regenerate with
``python -c 'from bot.sandbox.spec import *; write_builtin(DEFAULT_PATH)'``; the
source's MIT licence is ``telegram_builtin_spec.LICENSE``).
"""

from __future__ import annotations

import json
import os
import re
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
    const: str | None = None  # the value a discriminating ``type`` field must hold


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


BUILTIN_PATH = Path(__file__).with_name("telegram_builtin_spec.json")
#: the methods digestbot calls now or soon; the built-in spec describes exactly these
BUILTIN_METHODS = (
    "getMe",
    "sendMessage",
    "editMessageText",
    "editMessageReplyMarkup",
    "deleteMessage",
    "answerCallbackQuery",
    "answerInlineQuery",
    "setMyCommands",
    "getMyCommands",
    "deleteMyCommands",
    "getUpdates",
    "setWebhook",
    "deleteWebhook",
    "getWebhookInfo",
    "getChat",
    "getChatMember",
    "sendDocument",
    "sendPhoto",
    "getFile",
    "close",
    "logOut",
)
_CONST = re.compile(r"\bmust be ([a-z_]+)\b")


def _const(field: dict[str, Any]) -> str | None:
    """The literal a discriminating ``type`` field must hold ("Scope type, must be chat")."""
    if "const" in field:
        return str(field["const"])
    if field.get("name") != "type":
        return None
    description = field.get("description")
    text = " ".join(description) if isinstance(description, list) else str(description or "")
    found = _CONST.search(text)
    return found.group(1) if found else None


def _compact_fields(body: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for raw in body.get("fields", []):
        field: dict[str, Any] = {
            "name": raw["name"],
            "types": list(raw["types"]),
            "required": bool(raw["required"]),
        }
        const = _const(raw)
        if const is not None:
            field["const"] = const
        out.append(field)
    return out


def subset(raw: dict[str, Any], methods: tuple[str, ...] = BUILTIN_METHODS) -> dict[str, Any]:
    """A compact spec of `methods` plus every type their parameters reach (descriptions
    dropped, ``type`` discriminators kept as ``const``): the shape of the built-in file."""
    seen: set[str] = set()
    todo: list[str] = []

    def reach(type_names: list[str]) -> None:
        for type_name in type_names:
            name = type_name.removeprefix("Array of ").removeprefix("Array of ")
            if name in raw["types"] and name not in seen:
                seen.add(name)
                todo.append(name)

    out_methods: dict[str, Any] = {}
    for name in methods:
        body = raw["methods"][name]
        out_methods[name] = {"returns": list(body.get("returns", []))}
        if body.get("fields"):
            out_methods[name]["fields"] = _compact_fields(body)
        for field in body.get("fields", []):
            reach(field["types"])
    while todo:
        body = raw["types"][todo.pop()]
        reach(list(body.get("subtypes", [])))
        for field in body.get("fields", []):
            reach(field["types"])
    out_types: dict[str, Any] = {}
    for name in sorted(seen):
        body = raw["types"][name]
        entry: dict[str, Any] = {}
        if body.get("subtypes"):
            entry["subtypes"] = list(body["subtypes"])
        if body.get("fields"):
            entry["fields"] = _compact_fields(body)
        out_types[name] = entry
    return {
        "version": f"builtin ({raw.get('version')})",
        "methods": out_methods,
        "types": out_types,
    }


def _objects(raw: dict[str, Any]) -> dict[str, ObjectSpec]:
    out: dict[str, ObjectSpec] = {}
    for name, body in raw.items():
        fields = {
            f["name"]: FieldSpec(f["name"], tuple(f["types"]), bool(f["required"]), _const(f))
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
        return builtin_spec()
    with path.open(encoding="utf-8") as handle:
        return _build(json.load(handle), builtin=False)


def load_spec(spec_path: str | os.PathLike[str] | None = None) -> TelegramSpec:
    """Return the parsed spec (cached per path); the built-in one if the file is absent."""
    return _load_cached(resolve_spec_path(spec_path).resolve())


@lru_cache(maxsize=1)
def builtin_spec() -> TelegramSpec:
    """The spec shipped inside the package (:data:`BUILTIN_METHODS` only)."""
    with BUILTIN_PATH.open(encoding="utf-8") as handle:
        return _build(json.load(handle), builtin=True)


def write_builtin(source: Path, target: Path = BUILTIN_PATH) -> None:
    """Regenerate the built-in file from the full spec."""
    with source.open(encoding="utf-8") as handle:
        compact = subset(json.load(handle))
    target.write_text(json.dumps(compact, separators=(",", ":")) + "\n", encoding="utf-8")
