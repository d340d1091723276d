"""Strict fake Telegram Bot API server (aiohttp) for tests and the demo.

Serves ``GET|POST /bot{token}/{method}``.  Every request is checked against the
Bot API spec (see :mod:`bot.sandbox.spec`); HTML is parsed like tdlib
(:mod:`bot.sandbox.telegram_html`); flood limits, blocked/missing/migrated
chats and injected network faults come from :class:`TelegramState`.

Implemented (with their own checks on top of the spec's): every method in
:data:`bot.sandbox.spec.BUILTIN_METHODS`.  Other spec methods returning Boolean
answer ``true`` after the spec checks; the rest answer 501.  With
``TelegramState(valid_tokens=...)`` any other token is 401 Unauthorized.  Tokens
are never logged or recorded.  ``GET /_inbox`` (HTML) and ``/_inbox.json`` show
what was posted (:mod:`bot.sandbox.inbox`).
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from aiohttp import web

from bot.sandbox.faults import Fault, FaultKind, drop_connection
from bot.sandbox.inbox import html_response, telegram_inbox, telegram_inbox_html
from bot.sandbox.spec import TelegramSpec, load_spec
from bot.sandbox.telegram_methods import HANDLERS, too_many
from bot.sandbox.telegram_state import RejectedRequest, TelegramState
from bot.sandbox.telegram_validate import ApiError, bad_request, coerce_params

__all__ = ["make_telegram_app"]

STATE_KEY = web.AppKey("telegram_state", TelegramState)
SPEC_KEY = web.AppKey("telegram_spec", TelegramSpec)
TOKEN_RE = re.compile(r"\d+:[A-Za-z0-9_-]{30,}")


def make_telegram_app(
    state: TelegramState | None = None, *, spec: TelegramSpec | None = None
) -> web.Application:
    """The fake Bot API as an aiohttp application bound to `state`."""
    state = state if state is not None else TelegramState()
    app = web.Application()
    app[STATE_KEY] = state
    app[SPEC_KEY] = spec if spec is not None else load_spec(state.spec_path)
    app.router.add_route("GET", "/bot{token}/{method}", _handle)
    app.router.add_route("POST", "/bot{token}/{method}", _handle)
    app.router.add_get("/file/bot{token}/{path:.+}", _download)
    app.router.add_get("/_inbox", _inbox_page)
    app.router.add_get("/_inbox.json", _inbox_json)
    return app


async def _inbox_page(request: web.Request) -> web.StreamResponse:
    return html_response(telegram_inbox_html(request.app[STATE_KEY]))


async def _inbox_json(request: web.Request) -> web.StreamResponse:
    return web.json_response(telegram_inbox(request.app[STATE_KEY]))


async def _download(request: web.Request) -> web.StreamResponse:
    """A file announced by getFile (``TelegramState.add_file``); 404 for any other path."""
    state = request.app[STATE_KEY]
    token = request.match_info["token"]
    if not TOKEN_RE.fullmatch(token) or (
        state.valid_tokens is not None and token not in state.valid_tokens
    ):
        return _reply(error=ApiError(401, "Unauthorized"))
    path = request.match_info["path"]
    found = next((c for p, c in state.files.values() if p == path), None)
    if found is None:
        return _reply(error=ApiError(404, "Not Found"))
    return web.Response(body=found, content_type="application/octet-stream")


def _reply(result: Any = None, error: ApiError | None = None) -> web.Response:
    if error is not None:
        return web.json_response(error.payload(), status=error.code)
    return web.json_response({"ok": True, "result": result})


async def _read_params(request: web.Request) -> dict[str, Any]:
    params: dict[str, Any] = dict(request.query)
    if request.method != "POST" or not request.body_exists:
        return params
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except ValueError as exc:
            raise bad_request("can't parse JSON object") from exc
        if not isinstance(body, dict):
            raise bad_request("can't parse JSON object")
        params.update(body)
        return params
    for key, value in (await request.post()).items():
        if isinstance(value, str):
            params[key] = value
        else:
            params[key] = f"<upload:{getattr(value, 'filename', key)}>"
    return params


async def _handle(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE_KEY]
    spec = request.app[SPEC_KEY]
    name = request.match_info["method"]
    token = request.match_info["token"]
    state.calls.append(name)
    params: dict[str, Any] = {}
    fault: Fault | None = None
    try:
        if not TOKEN_RE.fullmatch(token) or (
            state.valid_tokens is not None and token not in state.valid_tokens
        ):
            raise ApiError(401, "Unauthorized")
        method = spec.method(name)
        handler = HANDLERS.get(method.name) if method else None
        if method is None:
            raise ApiError(404, "Not Found")
        name = method.name
        params = await _read_params(request)
        fault = state.faults.next_fault(name)
        if fault is not None:
            early = await _apply_fault(request, state, name, params, fault)
            if early is not None:
                return early
        typed = coerce_params(spec, method, params)
        if handler is None:
            result = _default_result(method.returns, name)
        else:
            result = await handler(state, typed)
    except ApiError as error:
        state.rejected.append(RejectedRequest(name, params, error.code, error.description))
        return _reply(error=error)
    if fault is not None and fault.kind is FaultKind.ACCEPT_THEN_DROP:
        return drop_connection(request)
    return _reply(result)


async def _apply_fault(
    request: web.Request, state: TelegramState, name: str, params: dict[str, Any], fault: Fault
) -> web.StreamResponse | None:
    if fault.kind is FaultKind.SLOW:
        await asyncio.sleep(fault.delay)
        return None
    if fault.kind is FaultKind.DROP:
        state.rejected.append(RejectedRequest(name, params, 0, "connection dropped"))
        return drop_connection(request)
    if fault.kind is FaultKind.SERVER_ERROR:
        raise ApiError(fault.status or 502, "Bad Gateway")
    if fault.kind is FaultKind.RATE_LIMIT:
        raise too_many(fault.retry_after)
    return None  # ACCEPT_THEN_DROP: handled after processing


def _default_result(returns: tuple[str, ...], name: str) -> Any:
    if returns and returns[0] in ("Boolean", "True"):
        return True
    raise ApiError(501, f"Not Implemented: {name} is not supported by the sandbox")
