"""Telegram's budget kept in Redis (``DIGESTBOT_REDIS_URL``) instead of the database: the same
windows, planned by the same pure code (:mod:`bot.domain.send_slots`), for replies and for the
ledger's slots.

Two kinds of sorted sets of stamps (score: the moment, in seconds since the epoch): ``all``
(every slot and reply of the bot; a ledger slot's member names its delivery, a reply's does
not) and one per chat (``chat:<id>``, ``chat:channel``). A grant is optimistic and atomic:
``WATCH all``, read, plan, then ``MULTI`` the new stamps (and the pruning of old ones) and
``EXEC``; if any process wrote ``all`` meanwhile (every write does), nothing was written and
the grant is planned again. So a reply costs three round trips to Redis and no database
transaction, and every process sees every stamp.

The ledger's claims stay in the database (compare-and-set, leases, ``FOR UPDATE SKIP
LOCKED``): its slots are granted here first, then claimed. A slot whose claim is lost (another
worker took the delivery) or never sent stays in Redis until it ages out: a little capacity
wasted, never a limit broken.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import random
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from redis import Redis
from redis import asyncio as aioredis
from redis.exceptions import RedisError, WatchError
from sqlalchemy.orm import Session

from bot.clock import Clock
from bot.domain.send_slots import REPLY_HOT, Grant, Limits, Request, reply_slot
from bot.services.pace import BatchedReplies, Seen
from bot.store.stamps import AHEAD_SECONDS, KEEP_SECONDS

logger = logging.getLogger(__name__)
MAX_TRIES = 50  # grants planned again after a concurrent write, at most
CONNECT_SECONDS = 2.0


def _ts(moment: datetime) -> float:
    return moment.timestamp()


def _moment(score: float) -> datetime:
    return datetime.fromtimestamp(score, UTC)


class Keys:
    """The keys of one bot's budget (``prefix``: one per bot, shared by its processes)."""

    def __init__(self, prefix: str) -> None:
        self.all = f"{prefix}:all"
        self._chat = f"{prefix}:chat:"
        self._ids = itertools.count()
        self._me = f"{os.getpid()}.{uuid.uuid4().hex[:8]}"

    def chat(self, destination: str) -> str:
        """``telegram:<id>`` or a bare chat id -> its set."""
        tail = destination.split(":", 1)[1] if ":" in destination else destination
        return self._chat + tail

    def member(self, delivery: int | None) -> str:
        """A unique member: ``l:<delivery>:...`` for a ledger slot, ``r:...`` for a reply."""
        unique = f"{self._me}.{next(self._ids)}"
        return f"r:{unique}" if delivery is None else f"l:{delivery}:{unique}"


def prefix_for(token_id: str | None) -> str:
    """One budget per bot: the bot's numeric id (the token's part before the colon, not
    secret) names it."""
    return f"digestbot:pace:{token_id or 'bot'}"


def _name(member: Any) -> str:
    return member.decode() if isinstance(member, bytes) else str(member)


def _split(
    entries: Sequence[tuple[Any, float]],
) -> tuple[list[tuple[datetime, int | None]], list[datetime]]:
    slots: list[tuple[datetime, int | None]] = []
    replies: list[datetime] = []
    for member, score in entries:
        name = _name(member)
        if name.startswith("l:"):
            slots.append((_moment(score), int(name.split(":", 2)[1])))
        else:
            replies.append(_moment(score))
    return slots, replies


def _times(entries: Sequence[tuple[Any, float]]) -> list[datetime]:
    return sorted(_moment(score) for _, score in entries)


def _counted(entries: Sequence[tuple[Any, float]], until: datetime) -> list[tuple[Any, float]]:
    """The entries the ledger counts: every slot, and the replies up to ``until`` (a reply
    stamped further ahead comes from a process whose clock runs ahead of ours: not counted,
    as :class:`bot.services.pace.DatabaseBook` does not count it)."""
    last = _ts(until)
    return [
        (member, score)
        for member, score in entries
        if score <= last or _name(member).startswith("l:")
    ]


class RedisBook:
    """The ledger's slots in Redis (sync client: the pace runs in a worker thread)."""

    def __init__(self, client: Redis, keys: Keys) -> None:
        self._client = client
        self._keys = keys

    def grant(
        self,
        session: Session,
        now: datetime,
        ids: Sequence[int],
        requests: Sequence[Request],
        widest: Limits,
        plan: Callable[[Seen], list[Grant]],
    ) -> list[Grant]:
        keys = self._keys
        chat_keys = [keys.chat(r.destination) for r in requests]
        since = _ts(now - max(REPLY_HOT, widest.second))
        chat_since = _ts(now - widest.minute)
        until = now + timedelta(seconds=AHEAD_SECONDS)
        for _ in range(MAX_TRIES):
            with self._client.pipeline(transaction=True) as pipe:
                try:
                    pipe.watch(keys.all)  # type: ignore[no-untyped-call]
                    reads = self._client.pipeline(transaction=False)
                    reads.zrangebyscore(keys.all, since, "+inf", withscores=True)
                    for key in chat_keys:
                        reads.zrangebyscore(key, chat_since, "+inf", withscores=True)
                    found = [_counted(f, until) for f in reads.execute()]
                    slots, replies = _split(found[0])
                    slots = [(t, i) for t, i in slots if t > now - widest.second]
                    chats = {
                        r.destination: _times(f) for r, f in zip(requests, found[1:], strict=True)
                    }
                    grants = plan(Seen(slots, replies, chats))
                    pipe.multi()
                    old = _ts(now) - KEEP_SECONDS
                    pipe.zremrangebyscore(keys.all, "-inf", old)
                    for delivery, key, grant in zip(ids, chat_keys, grants, strict=True):
                        if grant.at is None:
                            continue
                        member = keys.member(delivery)
                        pipe.zadd(keys.all, {member: _ts(grant.at)})
                        pipe.zadd(key, {member: _ts(grant.at)})
                        pipe.zremrangebyscore(key, "-inf", old)
                        pipe.expire(key, int(KEEP_SECONDS))
                    pipe.execute()
                    return grants
                except WatchError:
                    time.sleep(random.uniform(0, 0.002))
        raise RedisError("the Telegram budget in Redis stayed too busy to plan in")


class RedisReplies(BatchedReplies):
    """Replies' stamps in Redis (asyncio client): :class:`bot.services.pace.ReplyBudget`.
    Replies that ask while a grant is being made are granted together in the next one (so a
    process never races itself; only other processes' writes make a grant plan again). A
    Redis that does not answer does not hold a reply back: it leaves at once (logged)."""

    _unreachable = (RedisError, OSError)
    _lost = "Telegram budget in Redis unreachable (%s): replies sent at once"

    def __init__(self, client: aioredis.Redis, keys: Keys, clock: Clock, limits: Limits) -> None:
        super().__init__(clock, limits)
        self._client = client
        self._keys = keys
        self.tries = 0  # plans made (more than grants when processes wrote at once)
        self.grants = 0

    async def _grant(self, now: datetime, asks: list[tuple[int | None, bool]]) -> list[datetime]:
        keys, limits = self._keys, self.limits
        chats = sorted({chat for chat, _ in asks if chat is not None})
        chat_keys = {chat: keys.chat(str(chat)) for chat in chats}
        for attempt in range(MAX_TRIES):
            self.tries += 1
            async with self._client.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(keys.all)
                    reads = self._client.pipeline(transaction=False)
                    reads.zrangebyscore(keys.all, _ts(now - limits.second), "+inf", withscores=True)
                    for chat in chats:
                        reads.zrangebyscore(
                            chat_keys[chat], _ts(now - limits.minute), "+inf", withscores=True
                        )
                    found = await reads.execute()
                    overall = _times(found[0])
                    seen = {c: _times(f) for c, f in zip(chats, found[1:], strict=True)}
                    granted: list[datetime] = []
                    for asked, group in asks:
                        mine = seen.setdefault(asked, []) if asked is not None else []
                        at = reply_slot(now, overall, mine, limits, group=group)
                        overall.append(at)
                        mine.append(at)
                        granted.append(at)
                    old = _ts(now) - KEEP_SECONDS
                    pipe.multi()  # type: ignore[no-untyped-call]
                    pipe.zremrangebyscore(keys.all, "-inf", old)
                    for (asked, _), at in zip(asks, granted, strict=True):
                        member = keys.member(None)
                        pipe.zadd(keys.all, {member: _ts(at)})
                        if asked is not None:
                            pipe.zadd(chat_keys[asked], {member: _ts(at)})
                    for key in chat_keys.values():
                        pipe.zremrangebyscore(key, "-inf", old)
                        pipe.expire(key, int(KEEP_SECONDS))
                    await pipe.execute()
                    self.grants += 1
                    return granted
                except WatchError:
                    await asyncio.sleep(random.uniform(0, 0.002) * min(attempt + 1, 5))
        raise RedisError("the Telegram budget in Redis stayed too busy to plan in")

    async def aclose(self) -> None:
        await super().aclose()
        await self._client.aclose()


def redis_replies(url: str, clock: Clock, limits: Limits, prefix: str) -> RedisReplies:
    client = aioredis.Redis.from_url(url, socket_connect_timeout=CONNECT_SECONDS)
    return RedisReplies(client, Keys(prefix), clock, limits)


def redis_book(url: str, prefix: str) -> RedisBook:
    client = Redis.from_url(url, socket_connect_timeout=CONNECT_SECONDS)
    return RedisBook(client, Keys(prefix))


__all__ = ["Keys", "RedisBook", "RedisReplies", "prefix_for", "redis_book", "redis_replies"]
