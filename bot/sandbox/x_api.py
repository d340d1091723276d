"""Strict fake X API v2 server (aiohttp): POST /2/tweets, DELETE /2/tweets/{id}, /2/users/me.

Checks the OAuth 1.0a header; when the state holds credentials (all four or
none) the consumer key and access token must match and the HMAC-SHA1 signature
(made with both secrets) must verify, else 401.  The signature is checked
against the URL the client signed: by default the
original ``https://api.twitter.com/...`` that tweepy signs before
:func:`bot.publish.x_session.route_client` rewrites the host; the sandbox's own
URL is accepted too), weighted length via twitter-text v3, duplicate content,
a per-window post limit with ``x-rate-limit-*`` headers on every response,
unknown body fields, nonce replay, and injected faults from :class:`XState`.
Without credentials any well-formed OAuth 1.0a header is accepted.  ``GET /_inbox``
(HTML) and ``/_inbox.json`` show what was posted (:mod:`bot.sandbox.inbox`).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from twitter_text import parse_tweet

from bot.sandbox.faults import FaultInjector, FaultKind, drop_connection
from bot.sandbox.inbox import html_response, x_inbox, x_inbox_html
from bot.sandbox.oauth1 import OAuthError, parse_header, verify

__all__ = ["XPost", "XRejected", "XState", "make_x_app"]

_TWEET_FIELDS = frozenset(
    {
        "text",
        "reply",
        "quote_tweet_id",
        "media",
        "poll",
        "geo",
        "reply_settings",
        "for_super_followers_only",
        "direct_message_deep_link",
        "community_id",
        "nullcast",
    }
)
_INVALID = "https://api.twitter.com/2/problems/invalid-request"


@dataclass
class XPost:
    id: str
    text: str
    created: float
    account: str  # oauth_token of the author (the access token's public half)
    body: dict[str, Any]
    deleted: bool = False


@dataclass
class XRejected:
    route: str
    status: int
    detail: str
    body: Any = None


@dataclass
class _Bucket:
    limit: int
    window: float
    reset_at: float = 0.0
    used: int = 0

    def take(self, now: float) -> bool:
        """Count one request; False when the window is exhausted."""
        if now >= self.reset_at:
            self.reset_at, self.used = now + self.window, 0
        if self.used >= self.limit:
            return False
        self.used += 1
        return True

    def headers(self, now: float) -> dict[str, str]:
        reset = self.reset_at if now < self.reset_at else now + self.window
        remaining = self.limit - self.used if now < self.reset_at else self.limit
        return {
            "x-rate-limit-limit": str(self.limit),
            "x-rate-limit-remaining": str(max(0, remaining)),
            "x-rate-limit-reset": str(int(reset)),
        }


@dataclass
class XState:
    """Everything the fake X server knows; inspect ``posts`` / ``rejected`` in tests."""

    clock: Callable[[], float] = time.time  # epoch seconds (x-rate-limit-reset uses it)
    consumer_key: str | None = None
    consumer_secret: str | None = None
    access_token: str | None = None
    access_token_secret: str | None = None
    signed_base_url: str = "https://api.twitter.com"
    limits_enabled: bool = True
    post_limit: int = 17  # free tier: 17 posts / 24 h per user
    post_window: float = 24 * 3600.0
    faults: FaultInjector = field(default_factory=FaultInjector)
    posts: list[XPost] = field(default_factory=list)
    rejected: list[XRejected] = field(default_factory=list)
    user: dict[str, Any] = field(
        default_factory=lambda: {
            "id": "1700000000000000001",
            "name": "Digest Sandbox",
            "username": "digest_sandbox",
        }
    )

    def __post_init__(self) -> None:
        keys = (
            self.consumer_key,
            self.consumer_secret,
            self.access_token,
            self.access_token_secret,
        )
        if any(k is not None for k in keys) and any(k is None for k in keys):
            raise ValueError(
                "XState credentials: give all four (consumer key and secret, access token and "
                "secret) or none"
            )
        self._ids = itertools.count(1800000000000000001)
        self._nonces: set[tuple[str, str]] = set()
        self.buckets: dict[str, _Bucket] = {
            "POST /2/tweets": _Bucket(self.post_limit, self.post_window),
            "DELETE /2/tweets": _Bucket(self.post_limit, self.post_window),
            "GET /2/users/me": _Bucket(25, 24 * 3600.0),
        }

    def texts(self) -> list[str]:
        return [p.text for p in self.posts if not p.deleted]


STATE_KEY = web.AppKey("x_state", XState)


class _XError(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        errors = body.get("errors") or [{}]
        super().__init__(errors[0].get("message") or body.get("detail"))
        self.status = status
        self.body = body


def _problem(status: int, title: str, detail: str | None = None) -> _XError:
    return _XError(
        status, {"title": title, "type": "about:blank", "status": status, "detail": detail or title}
    )


def _invalid(message: str, parameters: dict[str, Any]) -> _XError:
    return _XError(
        400,
        {
            "errors": [{"parameters": parameters, "message": message}],
            "title": "Invalid Request",
            "detail": "One or more parameters to your request was invalid.",
            "type": _INVALID,
        },
    )


def make_x_app(state: XState | None = None) -> web.Application:
    """The fake X API v2 as an aiohttp application bound to `state`."""
    app = web.Application()
    app[STATE_KEY] = state if state is not None else XState()
    app.router.add_post("/2/tweets", _route("POST /2/tweets", _create_tweet))
    app.router.add_delete("/2/tweets/{id}", _route("DELETE /2/tweets", _delete_tweet))
    app.router.add_get("/2/users/me", _route("GET /2/users/me", _users_me))
    app.router.add_get("/_inbox", _inbox_page)
    app.router.add_get("/_inbox.json", _inbox_json)
    return app


async def _inbox_page(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE_KEY]
    return html_response(x_inbox_html(state.posts, state.user))


async def _inbox_json(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE_KEY]
    return web.json_response(x_inbox(state.posts, state.user))


Handler = Callable[[XState, dict[str, str], Any, dict[str, str]], Awaitable[tuple[int, Any]]]


def _route(name: str, handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def wrapped(request: web.Request) -> web.StreamResponse:
        state = request.app[STATE_KEY]
        bucket = state.buckets[name]
        now = state.clock()
        body: Any = None
        fault = state.faults.next_fault(name)
        try:
            if fault is not None and fault.kind is FaultKind.SLOW:
                await asyncio.sleep(fault.delay)
            if fault is not None and fault.kind is FaultKind.DROP:
                state.rejected.append(XRejected(name, 0, "connection dropped"))
                return drop_connection(request)
            if fault is not None and fault.kind is FaultKind.SERVER_ERROR:
                raise _problem(fault.status or 503, "Service Unavailable")
            oauth = _authenticate(request, state)
            if fault is not None and fault.kind is FaultKind.RATE_LIMIT:
                bucket.reset_at, bucket.used = now + fault.retry_after, bucket.limit
            if state.limits_enabled and not bucket.take(now):
                raise _problem(429, "Too Many Requests")
            body = await _json_body(request)
            status, result = await handler(state, oauth, body, dict(request.match_info))
        except _XError as error:
            state.rejected.append(XRejected(name, error.status, str(error), body))
            return web.json_response(error.body, status=error.status, headers=bucket.headers(now))
        if fault is not None and fault.kind is FaultKind.ACCEPT_THEN_DROP:
            return drop_connection(request)
        return web.json_response(result, status=status, headers=bucket.headers(now))

    return wrapped


async def _json_body(request: web.Request) -> Any:
    if request.method == "GET" or not request.body_exists:
        return None
    if request.content_type != "application/json":
        raise _invalid("Content-Type must be application/json", {})
    try:
        return await request.json()
    except ValueError as exc:
        raise _invalid("Request body is not valid JSON", {}) from exc


def _authenticate(request: web.Request, state: XState) -> dict[str, str]:
    try:
        oauth = parse_header(request.headers.get("Authorization"))
    except OAuthError as exc:
        raise _problem(401, "Unauthorized") from exc
    if state.consumer_key is not None and oauth["oauth_consumer_key"] != state.consumer_key:
        raise _problem(401, "Unauthorized")
    if state.access_token is not None and oauth["oauth_token"] != state.access_token:
        raise _problem(401, "Unauthorized")
    nonce = (oauth["oauth_nonce"], oauth["oauth_timestamp"])
    if nonce in state._nonces:
        raise _problem(401, "Unauthorized")
    if state.consumer_secret is not None and state.access_token_secret is not None:
        # the secrets never travel: a signature made with a wrong one does not verify
        path = request.rel_url.raw_path
        urls = [state.signed_base_url.rstrip("/") + path, str(request.url.origin()) + path]
        query = list(request.rel_url.query.items())
        if not verify(
            request.method, urls, oauth, query, state.consumer_secret, state.access_token_secret
        ):
            raise _problem(401, "Unauthorized")
    state._nonces.add(nonce)
    return oauth


async def _create_tweet(
    state: XState, oauth: dict[str, str], body: Any, match: dict[str, str]
) -> tuple[int, Any]:
    if not isinstance(body, dict):
        raise _invalid("Request body must be a JSON object", {})
    for key in body:
        if key not in _TWEET_FIELDS:
            raise _invalid(
                f"$.{key}: is not defined in the schema and the schema does not allow "
                "additional properties",
                {key: [str(body[key])]},
            )
    text = body.get("text")
    if text is not None and not isinstance(text, str):
        raise _invalid("$.text: expected type: String", {"text": [str(text)]})
    if not (text or "").strip() and "media" not in body and "poll" not in body:
        raise _invalid("Post text is empty.", {"text": [text or ""]})
    text = text or ""
    if parse_tweet(text).weightedLength > 280:
        raise _invalid(
            "Your Tweet text is too long. For more information on how Twitter determines "
            "text length see https://github.com/twitter/twitter-text.",
            {"text": [text]},
        )
    account = oauth["oauth_token"]
    if any(p.text == text and p.account == account and not p.deleted for p in state.posts):
        raise _problem(
            403, "Forbidden", "You are not allowed to create a Tweet with duplicate content."
        )
    post = XPost(str(next(state._ids)), text, state.clock(), account, dict(body))
    state.posts.append(post)
    return 201, {"data": {"id": post.id, "text": text, "edit_history_tweet_ids": [post.id]}}


async def _delete_tweet(
    state: XState, oauth: dict[str, str], body: Any, match: dict[str, str]
) -> tuple[int, Any]:
    for post in state.posts:
        if post.id == match["id"] and not post.deleted and post.account == oauth["oauth_token"]:
            post.deleted = True
            return 200, {"data": {"deleted": True}}
    raise _problem(404, "Not Found Error", "Could not find tweet with id: [" + match["id"] + "].")


async def _users_me(
    state: XState, oauth: dict[str, str], body: Any, match: dict[str, str]
) -> tuple[int, Any]:
    return 200, {"data": state.user}
