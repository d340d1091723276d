"""Validate and coerce Bot API request parameters against the spec.

PTB posts ``application/x-www-form-urlencoded`` (or multipart when uploading)
where str values are sent as-is and everything else JSON-encoded; JSON bodies
carry native values.  :func:`coerce_params` turns either into typed Python
values and rejects what the real server would reject, with its wording.

Strictness beyond the real API (documented divergence): unknown parameters and
unknown fields inside JSON objects are rejected (Telegram silently ignores
them), so typos in our code surface in tests.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from bot.sandbox.spec import FieldSpec, ObjectSpec, TelegramSpec

_INT = re.compile(r"-?\d+")
_PRIMITIVES = frozenset({"Integer", "String", "Boolean", "Float", "True", "InputFile"})
_MISSING = {
    "text": "message text is empty",
    "chat_id": "chat_id is empty",
    "message_id": "message identifier is not specified",
    "callback_query_id": "query_id is empty",
}
_EMPTY_OK = frozenset({("setWebhook", "url")})  # "" removes the webhook
_BUTTON_LAYOUT = frozenset({"text", "icon_custom_emoji_id", "style"})


class ApiError(Exception):
    """A Bot API error response: ``{"ok": false, "error_code", "description", "parameters"}``."""

    def __init__(
        self, code: int, description: str, parameters: dict[str, Any] | None = None
    ) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.code,
            "description": self.description,
        }
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def bad_request(detail: str, parameters: dict[str, Any] | None = None) -> ApiError:
    return ApiError(400, f"Bad Request: {detail}", parameters)


def coerce_params(spec: TelegramSpec, method: ObjectSpec, raw: Mapping[str, Any]) -> dict[str, Any]:
    """Typed parameters for `method`, or raise :class:`ApiError` (400)."""
    for name in raw:
        if name not in method.fields:
            raise bad_request(f'unknown parameter "{name}"')
    for field in method.fields.values():
        if (method.name, field.name) in _EMPTY_OK and raw.get(field.name) == "":
            continue
        if field.required and raw.get(field.name) in (None, ""):
            raise bad_request(_MISSING.get(field.name, f"{field.name} is empty"))
    return {name: _coerce_field(spec, method.fields[name], value) for name, value in raw.items()}


def _coerce_field(spec: TelegramSpec, field: FieldSpec, value: Any) -> Any:
    if field.name == "chat_id" or field.types == ("Integer", "String"):
        return _chat_id(value)
    for type_name in field.types:
        ok, coerced = _coerce_scalar(type_name, value)
        if ok:
            return coerced
    if all(t in _PRIMITIVES for t in field.types):
        expected = " or ".join(field.types)
        raise bad_request(f'invalid value for parameter "{field.name}": expected {expected}')
    decoded = value
    if isinstance(value, str):
        try:
            decoded = json.loads(value)
        except ValueError as exc:
            raise _cant_parse(field.name) from exc
    for type_name in field.types:
        if _matches(spec, type_name, decoded) is None:
            return decoded
    raise _cant_parse(field.name, _matches(spec, field.types[0], decoded))


def _cant_parse(name: str, detail: str | None = None) -> ApiError:
    label = "reply keyboard markup" if name == "reply_markup" else name.replace("_", " ")
    suffix = f": {detail}" if detail else ""
    return bad_request(f"can't parse {label} JSON object{suffix}")


def _chat_id(value: Any) -> int | str:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        if _INT.fullmatch(value):
            return int(value)
        if value.startswith("@") and len(value) > 1:
            return value
    raise bad_request("chat not found")


def _coerce_scalar(type_name: str, value: Any) -> tuple[bool, Any]:
    if type_name == "String" and isinstance(value, str | int | float):
        return True, value if isinstance(value, str) else json.dumps(value)
    if type_name == "Integer":
        if isinstance(value, int) and not isinstance(value, bool):
            return True, value
        if isinstance(value, str) and _INT.fullmatch(value):
            return True, int(value)
    if type_name in ("Boolean", "True"):
        if isinstance(value, bool):
            return True, value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
            return True, value.lower() in ("true", "1")
    if type_name == "Float":
        if isinstance(value, int | float) and not isinstance(value, bool):
            return True, float(value)
        try:
            return True, float(value)
        except (TypeError, ValueError):
            return False, None
    if type_name == "InputFile" and isinstance(value, str):
        return True, value
    return False, None


def _matches(spec: TelegramSpec, type_name: str, value: Any, depth: int = 0) -> str | None:
    """None if `value` (decoded JSON) fits `type_name`, else a short reason."""
    if depth > 12:
        return None
    if type_name.startswith("Array of "):
        if not isinstance(value, list):
            return f"expected an array for {type_name}"
        inner = type_name[len("Array of ") :]
        for item in value:
            reason = _matches(spec, inner, item, depth + 1)
            if reason:
                return reason
        return None
    if type_name in _PRIMITIVES:
        ok = _native_ok(type_name, value)
        return None if ok else f"expected {type_name}"
    obj = spec.types.get(type_name)
    if obj is None:
        return None  # type unknown to the spec: accept
    if obj.subtypes:
        return _union_matches(spec, obj, value, depth)
    return _object_matches(spec, obj, value, depth)


def _union_matches(spec: TelegramSpec, obj: ObjectSpec, value: Any, depth: int) -> str | None:
    """A union (InlineQueryResult, BotCommandScope, ...): the subtypes whose ``type`` constant
    matches the value's ``type`` are the candidates; one of them must fit."""
    candidates = list(obj.subtypes)
    if isinstance(value, dict) and "type" in value:
        consts = {sub: _type_const(spec, sub) for sub in obj.subtypes}
        if any(c is not None for c in consts.values()):
            candidates = [sub for sub, c in consts.items() if c == value["type"]]
            if not candidates:
                return f'unknown {obj.name} type "{value["type"]}"'
    reasons = [_matches(spec, sub, value, depth + 1) for sub in candidates]
    if any(r is None for r in reasons):
        return None
    return reasons[0] if len(reasons) == 1 else f"not a valid {obj.name}"


def _type_const(spec: TelegramSpec, type_name: str) -> str | None:
    sub = spec.types.get(type_name)
    field = sub.fields.get("type") if sub is not None else None
    return field.const if field is not None else None


def _native_ok(type_name: str, value: Any) -> bool:
    if type_name in ("String", "InputFile"):
        return isinstance(value, str)
    if type_name in ("Boolean", "True"):
        return isinstance(value, bool)
    if type_name == "Integer":
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, int | float) and not isinstance(value, bool)


def _object_matches(spec: TelegramSpec, obj: ObjectSpec, value: Any, depth: int) -> str | None:
    if not isinstance(value, dict):
        return f"expected an object for {obj.name}"
    for key in value:
        if key not in obj.fields:
            return f'unknown field "{key}" in {obj.name}'
    for field in obj.fields.values():
        if field.name not in value:
            if field.required:
                return f'field "{field.name}" is required in {obj.name}'
            continue
        if field.const is not None and value[field.name] != field.const:
            return f'field "{field.name}" must be "{field.const}" in {obj.name}'
        reasons = [_matches(spec, t, value[field.name], depth + 1) for t in field.types]
        if all(reasons):
            return reasons[0]
    if obj.name == "InlineKeyboardButton":
        _check_button(value)
    return None


def _check_button(button: dict[str, Any]) -> None:
    actions = [key for key in button if key not in _BUTTON_LAYOUT]
    if not actions:
        raise bad_request(
            "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
        )
    if len(actions) > 1:
        raise bad_request(
            f"can't parse inline keyboard button: exactly one of {', '.join(actions)} must be used"
        )
    data = button.get("callback_data")
    if data is not None and not 1 <= len(str(data).encode("utf-8")) <= 64:
        raise bad_request("BUTTON_DATA_INVALID")
    url = button.get("url")
    if url is not None and not re.match(r"(https?|tg)://\S+$", str(url)):
        raise bad_request(f"inline keyboard button URL '{url}' is invalid: Wrong URL protocol")
