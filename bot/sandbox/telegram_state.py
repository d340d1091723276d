"""Mutable state of the fake Telegram server: chats, sent messages, limits, faults.

Tests construct a :class:`TelegramState`, hand it to ``make_telegram_app`` and
then inspect ``state.sent`` / ``state.rejected`` or steer failures through
``blocked_chats``, ``missing_chats``, ``migrated`` and ``faults``.

Like Telegram, the fake only delivers to chats the bot may address: groups and
channels declared in ``chats`` (``TelegramState(chats={"@mychannel"})`` or
:meth:`TelegramState.add_chat`) and users who started the bot (``users``,
:meth:`TelegramState.start`, or a private message pushed with ``push_update``).
"""

from __future__ import annotations

import bisect
import itertools
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.sandbox.faults import FaultInjector

ChatRef = int | str


@dataclass
class SentMessage:
    """A message the fake accepted (kept even when later edited or deleted)."""

    chat_id: int
    message_id: int
    text: str  # raw text as sent (before entity parsing)
    visible_text: str
    parse_mode: str | None
    reply_markup: Any
    params: dict[str, Any]
    entities: list[dict[str, Any]]
    date: int
    deleted: bool = False
    edits: list[str] = field(default_factory=list)
    #: "text", or "document"/"photo" (then the text is the caption and `media` the file)
    kind: str = "text"
    media: Any = None


@dataclass
class RejectedRequest:
    method: str
    params: dict[str, Any]
    error_code: int  # 0 = connection dropped
    description: str


class RateLimiter:
    """Sliding windows: global per second, per chat per second, per group per minute."""

    def __init__(self) -> None:
        self._global: deque[float] = deque()
        self._chats: dict[int, deque[float]] = {}

    def retry_after(
        self, state: TelegramState, chat_id: int, is_group: bool, *, paid: bool = False
    ) -> int | None:
        """Seconds to wait before `chat_id` may receive a message, None if allowed now.
        ``paid``: the request set ``allow_paid_broadcast`` (the overall limit is then
        ``paid_per_second``)."""
        now = state.clock()
        history = self._chats.get(chat_id, deque())
        overall = state.paid_per_second if paid else state.global_per_second
        checks = [
            (self._global, 1.0, overall),
            (history, 1.0, state.chat_per_second),
        ]
        if is_group:
            checks.append((history, 60.0, state.group_per_minute))
        waits = [_wait(times, window, limit, now) for times, window, limit in checks]
        worst = max((w for w in waits if w is not None), default=None)
        return None if worst is None else max(1, math.ceil(worst))

    def record(self, chat_id: int, now: float) -> None:
        for times in (self._global, self._chats.setdefault(chat_id, deque())):
            if times and now < times[-1]:  # a clock set back (tests): keep the order
                bisect.insort(times, now)
            else:
                times.append(now)
            while times and times[0] <= now - 60.0:
                times.popleft()


def _wait(times: deque[float], window: float, limit: int, now: float) -> float | None:
    """Seconds until one more may go, when ``limit`` arrivals already fall in the ``window``
    before ``now``. Arrivals are recorded in order, so only the ``limit``-th latest matters:
    constant time (the global history holds a minute of arrivals, 60,000 of them at 1,000/s)."""
    if len(times) < limit:
        return None
    oldest = times[-limit]
    if oldest <= now - window:
        return None
    return oldest + window - now


@dataclass
class TelegramState:
    """Everything the fake Telegram server knows; safe to inspect between requests."""

    clock: Callable[[], float] = time.monotonic
    wall_clock: Callable[[], float] = time.time
    spec_path: str | Path | None = None
    limits_enabled: bool = True
    global_per_second: int = 30
    paid_per_second: int = 1000  # with allow_paid_broadcast (paid in Telegram Stars)
    chat_per_second: int = 1
    group_per_minute: int = 20
    strict_entities: bool = True
    valid_tokens: set[str] | None = None  # None: any well-formed token is accepted
    #: groups and channels the bot is in (``@username`` or numeric id); others: chat not found
    chats: set[ChatRef] = field(default_factory=set)
    #: users who sent /start; other private chats: 403 can't initiate conversation
    users: set[int] = field(default_factory=set)
    blocked_chats: set[ChatRef] = field(default_factory=set)
    #: channels/groups where the bot is a plain member (not an administrator)
    member_only_chats: set[ChatRef] = field(default_factory=set)
    missing_chats: set[ChatRef] = field(default_factory=set)
    migrated: dict[int, int] = field(default_factory=dict)
    faults: FaultInjector = field(default_factory=FaultInjector)
    sent: list[SentMessage] = field(default_factory=list)
    rejected: list[RejectedRequest] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)  # method of every request, in order
    commands: list[dict[str, Any]] = field(default_factory=list)  # default scope, no language
    scoped_commands: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    webhook_url: str = ""
    #: what the last setWebhook asked for (tests check it; never printed by the sandbox)
    webhook_secret: str | None = None
    webhook_allowed_updates: list[str] | None = None
    members: dict[int, set[int]] = field(default_factory=dict)  # chat id -> member user ids
    callback_answers: list[dict[str, Any]] = field(default_factory=list)
    inline_answers: list[dict[str, Any]] = field(default_factory=list)
    usernames: dict[str, int] = field(default_factory=dict)  # "name" (lower) -> chat id
    chat_types: dict[int, str] = field(default_factory=dict)  # override "channel"/"supergroup"
    max_poll_wait: float = 1.0  # cap on getUpdates long polling (real seconds)
    #: files users sent (``add_file``): file_id -> (file_path, content), for getFile + download
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    bot_user: dict[str, Any] = field(
        default_factory=lambda: {
            "id": 7000000001,
            "is_bot": True,
            "first_name": "Digest Sandbox",
            "username": "digest_sandbox_bot",
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }
    )

    def __post_init__(self) -> None:
        self.limiter = RateLimiter()
        self.updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._channel_ids = itertools.count(1)
        self._message_ids: dict[int, int] = {}
        self._known: set[int] = set()
        self.open_callback_queries: set[str] = set()
        self.open_inline_queries: set[str] = set()
        self.chats = set(self.chats)
        for chat in list(self.chats):
            self.add_chat(chat)
        self.users = set(self.users)

    # -- helpers for tests -------------------------------------------------
    def push_update(self, update: dict[str, Any]) -> int:
        """Queue an Update for getUpdates; assigns ``update_id`` if missing.

        As on Telegram, a private message means its sender has started the bot, and a
        callback or inline query becomes answerable (once)."""
        update = dict(update)
        update.setdefault("update_id", next(self._update_ids))
        message = update.get("message")
        if isinstance(message, dict) and message.get("chat", {}).get("type") == "private":
            self.users.add(int(message["chat"]["id"]))
        if isinstance(update.get("callback_query"), dict):
            self.open_callback_queries.add(str(update["callback_query"]["id"]))
        if isinstance(update.get("inline_query"), dict):
            self.open_inline_queries.add(str(update["inline_query"]["id"]))
        self.updates.append(update)
        return int(update["update_id"])

    def add_chat(self, chat: ChatRef, kind: str | None = None) -> int:
        """Declare a group or channel the bot belongs to; returns its numeric id."""
        chat_id = self.resolve_chat(chat)
        self.chats.add(chat)
        self._known.add(chat_id)
        if kind is not None:
            self.chat_types[chat_id] = kind
        return chat_id

    def start(self, *user_ids: int) -> None:
        """Users who sent /start: the bot may write to them."""
        self.users.update(user_ids)

    def add_file(
        self, content: bytes, file_name: str, mime_type: str = "text/plain"
    ) -> dict[str, Any]:
        """A file a user uploads: returns the ``Document`` object to put in a message; the bot
        then gets it with getFile and downloads ``/file/bot<token>/<file_path>``."""
        number = len(self.files) + 1
        file_id = f"sandbox-upload-{number}"
        self.files[file_id] = (f"documents/file_{number}", content)
        return {
            "file_id": file_id,
            "file_unique_id": f"upload{number}",
            "file_name": file_name,
            "mime_type": mime_type,
            "file_size": len(content),
        }

    def is_known(self, chat_id: int) -> bool:
        """Whether the bot may address `chat_id` at all (declared, started or migrated)."""
        if chat_id > 0:
            return chat_id in self.users
        return chat_id in self._known or chat_id in self.migrated.values()

    def messages(self, chat_id: ChatRef | None = None) -> list[SentMessage]:
        """Accepted, not deleted messages (optionally for one chat)."""
        wanted = None if chat_id is None else self.resolve_chat(chat_id)
        return [m for m in self.sent if not m.deleted and wanted in (None, m.chat_id)]

    # -- chats ----------------------------------------------------------------
    def resolve_chat(self, chat: ChatRef) -> int:
        """Numeric id for a chat id or ``@username`` (usernames get stable -100... ids)."""
        if isinstance(chat, int):
            return chat
        name = chat.lstrip("@").lower()
        if name not in self.usernames:
            self.usernames[name] = -1001000000000 - next(self._channel_ids)
        return self.usernames[name]

    def chat_type(self, chat_id: int) -> str:
        if chat_id > 0:
            return "private"
        if str(chat_id).startswith("-100"):
            return self.chat_types.get(chat_id, "channel")
        return "group"

    def chat_object(self, chat_id: int) -> dict[str, Any]:
        kind = self.chat_type(chat_id)
        if kind == "private":
            return {"id": chat_id, "type": kind, "first_name": "Sandbox User"}
        chat: dict[str, Any] = {"id": chat_id, "type": kind, "title": f"Sandbox {kind}"}
        username = next((n for n, i in self.usernames.items() if i == chat_id), None)
        if username:
            chat["username"] = username
        return chat

    def next_message_id(self, chat_id: int) -> int:
        self._message_ids[chat_id] = self._message_ids.get(chat_id, 0) + 1
        return self._message_ids[chat_id]

    def find_message(self, chat_id: int, message_id: int) -> SentMessage | None:
        for message in self.sent:
            if (message.chat_id, message.message_id) == (chat_id, message_id):
                return None if message.deleted else message
        return None
