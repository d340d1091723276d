"""Telegram's limits, kept in the database so that every process sees them.

Each Telegram claim stamps its delivery's ``sent_at`` with the slot it was granted (cleared
again if the send does not happen), in the transaction that reads the slots already granted,
under the ``telegram-pace`` lock row. Slots may lie a little in the future (a batch is
reserved at once, then sent as each slot comes): a later claim, by this process or another
(``run`` beside ``dispatch --once``), is granted slots after them. So however many processes
send at once, Telegram gets at most ``per_second`` messages a second overall, one a second per
chat and ``group_per_minute`` a minute per group or channel (see :mod:`bot.domain.send_slots`).

The lock serialises the reserving transactions of every process (four workers were measured
to keep the limits between them: ``tests/integration/test_workers_pg.py``). It never waits on
a delivery row: on PostgreSQL the batch is picked ``FOR UPDATE SKIP LOCKED``. Its wait and its
holder's idle time are bounded (:data:`bot.store.queue.LOCK_WAIT_MS`, ``LOCK_HOLD_IDLE_MS``),
and a worker killed while holding it loses its connection, which frees it at once.

Replies (answers to commands, edits under a pressed button, alerts: everything the bot sends
that is not a ledger delivery) count in the same budget: each takes a reply stamp
(:mod:`bot.store.stamps`) under the same lock, at the earliest moment that keeps every window
(:func:`bot.domain.send_slots.reply_slot`: between the ledger's slots when there is room, not
after all of them), and the ledger's planning counts those stamps and keeps a few slots a
second free while replies are coming (:func:`bot.domain.send_slots.reply_headroom`). A person
waiting for an answer goes first; a broadcast is a little slower while people talk to the bot.
Replies that ask at once share one transaction (:class:`DatabaseReplies`); it runs in a worker
thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.config import TelegramSettings
from bot.domain.send_slots import (
    REPLY_HOT,
    Grant,
    Limits,
    Request,
    plan_slots,
    reply_headroom,
    reply_slot,
)
from bot.publish.base import CHANNEL
from bot.store import queue as repo
from bot.store import stamps
from bot.store.data_version import DataVersion, SqliteDataVersion
from bot.store.queue import LedgerRow

logger = logging.getLogger(__name__)
_T = TypeVar("_T")

# a claim is stamped a moment before Telegram receives the request, and that moment varies:
# windows a little longer than Telegram's keep a late arrival from making a burst
MARGIN = timedelta(milliseconds=40)
# another process sends too: its sends' wobble adds to ours, and neither sees the other's
SHARED_MARGIN = timedelta(milliseconds=100)
# one chat's reply and drip post: this much more apart than a second and the shared margin
REPLY_CHAT_MARGIN = timedelta(milliseconds=250)


@dataclass(slots=True)
class Reservation:
    """What one reserving transaction did: deliveries claimed with their slot, deliveries
    whose chat must wait (postponed to that moment), deliveries another worker has."""

    claimed: list[tuple[LedgerRow, datetime]] = field(default_factory=list)
    waiting: list[tuple[LedgerRow, datetime]] = field(default_factory=list)
    lost: list[LedgerRow] = field(default_factory=list)
    shared: bool = False  # another process holds recent slots: it sends too


def is_group(destination: str) -> bool:
    """The channel and groups (negative chat ids) have the per-minute limit."""
    if destination == CHANNEL:
        return True
    tail = destination.split(":", 1)[1]
    return tail.startswith("-") or not tail.lstrip("-").isdigit()


def chat_of(destination: str) -> int | None:
    """The numeric chat of a Telegram destination (``telegram:<id>``), else None."""
    tail = destination.split(":", 1)[1] if ":" in destination else ""
    return int(tail) if tail.lstrip("-").isdigit() else None


def _with_replies(
    chats: dict[str, list[datetime]], replies: dict[int, list[datetime]]
) -> dict[str, list[datetime]]:
    for chat, times in replies.items():
        chats.setdefault(f"telegram:{chat}", []).extend(times)
    return chats


@dataclass(slots=True)
class Seen:
    """What a plan starts from: the ledger's slots (with their delivery ids) from a shared
    second back, reply stamps from :data:`REPLY_HOT` back (future ones included), and the
    requested chats' stamps of both kinds from a minute back, per destination."""

    slots: list[tuple[datetime, int | None]]
    replies: list[datetime]
    chats: dict[str, list[datetime]]


class SlotBook(Protocol):
    """Where the slots granted are kept (the database by default, or Redis)."""

    def grant(
        self,
        session: Session,
        now: datetime,
        ids: Sequence[int],
        requests: Sequence[Request],
        widest: Limits,
        plan: Callable[[Seen], list[Grant]],
    ) -> list[Grant]:
        """``plan`` on what is kept (windows up to ``widest``), its slots kept too, at once
        for every process: for the requests of deliveries ``ids``."""
        ...


class DatabaseBook:
    """The slots are the deliveries' ``sent_at`` (written by the claim, under the lock the
    caller holds) and the reply stamps."""

    def grant(
        self,
        session: Session,
        now: datetime,
        ids: Sequence[int],
        requests: Sequence[Request],
        widest: Limits,
        plan: Callable[[Seen], list[Grant]],
    ) -> list[Grant]:
        slots: list[tuple[datetime, int | None]] = list(
            repo.pace_stamps(session, now - widest.second)
        )
        until = now + timedelta(seconds=stamps.AHEAD_SECONDS)
        replies = stamps.since(session, now - max(REPLY_HOT, widest.second), until)
        destinations = [r.destination for r in requests]
        chats = repo.chat_stamps(session, destinations, now - widest.minute)
        numeric = [c for c in map(chat_of, destinations) if c is not None]
        _with_replies(chats, stamps.of_chats(session, numeric, now - widest.minute, until))
        return plan(Seen(slots, replies, chats))


class TelegramPace:
    def __init__(
        self,
        per_second: int = 30,
        chat_per_second: int = 1,
        group_per_minute: int = 20,
        *,
        book: SlotBook | None = None,
    ) -> None:
        self.limits = Limits(per_second, chat_per_second, group_per_minute, MARGIN)
        self.shared = Limits(per_second, chat_per_second, group_per_minute, SHARED_MARGIN)
        self.book: SlotBook = book or DatabaseBook()

    @property
    def per_second(self) -> int:
        return self.limits.per_second

    def reserve(
        self,
        session: Session,
        /,
        now: datetime,
        lease_seconds: float,
        *,
        rows: Sequence[LedgerRow] | None = None,
        limit: int = 0,
        horizon: repo.Horizon | None = None,
        own: Collection[int] = (),
    ) -> Reservation:
        """In one transaction: lock, take ``rows`` (those still claimable) or the next
        ``limit`` due private-chat deliveries, grant each a slot, claim them (stamped with
        their slot, leased from it). A chat whose own limit says wait is postponed to then;
        the others go on. ``own``: the deliveries this run claimed; a recent slot of any
        other means another process is sending, and the windows widen."""
        repo.take_lock_sync(session, "telegram-pace", now)
        result = Reservation()
        if rows is None:
            candidates = repo.due_private(session, now, limit, horizon)
        else:
            candidates = []
            for row in rows:
                if repo.claimable(session, row, now, horizon):
                    candidates.append(row)
                else:
                    result.lost.append(row)
        if not candidates:
            return result
        requests = [Request(r.destination, is_group(r.destination)) for r in candidates]
        ids = [r.id for r in candidates]

        def plan(seen: Seen) -> list[Grant]:
            room = reply_headroom(seen.replies, now, self.shared)  # slots a second for replies
            # replies come from another sender (a `web` process): the shared windows, as theirs
            result.shared = room > 0 or any(i is not None and i not in own for _, i in seen.slots)
            limits = self.shared if result.shared else self.limits
            overall = [stamp for stamp, _ in seen.slots if stamp > now - limits.second]
            overall += [t for t in seen.replies if t > now - limits.second]
            if room:  # replies come: a tenth of the second left free, chats kept apart more
                per_second = max(1, limits.per_second - room)
                limits = replace(limits, per_second=per_second, chat_margin=REPLY_CHAT_MARGIN)
            return plan_slots(now, overall, seen.chats, requests, limits)

        grants = self.book.grant(session, now, ids, requests, self.shared, plan)
        wanted: list[tuple[LedgerRow, datetime]] = []
        for row, grant in zip(candidates, grants, strict=True):
            if grant.at is not None:
                wanted.append((row, grant.at))
            else:
                assert grant.chat_wait is not None
                result.waiting.append((row, grant.chat_wait))
        waits = [(row.id, due) for row, due in result.waiting if row.state == "pending"]
        repo.postpone_many(session, waits, now)
        result.claimed = repo.claim_slots(session, wanted, lease_seconds, now, horizon)
        won = {row.id for row, _ in result.claimed}
        result.lost.extend(row for row, _ in wanted if row.id not in won)
        return result


# --- replies ------------------------------------------------------------------------------


class ReplyBudget(Protocol):
    """Where replies take their place in the one budget every process shares."""

    async def take(self, chat_id: int | None, *, group: bool = False) -> datetime:
        """A stamp for one reply to ``chat_id`` (None: no chat, an inline message): the
        moment it may leave (now, or a little later when the second is full)."""
        ...

    async def aclose(self) -> None: ...


def reply_limits(
    per_second: int = 30, chat_per_second: int = 1, group_per_minute: int = 20
) -> Limits:
    """A reply is planned in windows as wide as a shared broadcast's: it is usually sent by
    another process than the ledger's (``digestbot web``), and its arrival wobbles as theirs;
    and one chat's reply and drip post keep :data:`REPLY_CHAT_MARGIN` more apart (a reply
    can be late for its stamp by a busy event loop, and one chat's second costs nobody
    else anything)."""
    return Limits(per_second, chat_per_second, group_per_minute, SHARED_MARGIN, REPLY_CHAT_MARGIN)


def stamp_replies(
    session: Session,
    /,
    now: datetime | Clock,
    asks: Sequence[tuple[int | None, bool]],
    limits: Limits,
    *,
    prune_before: datetime | None = None,
) -> list[datetime]:
    """In one transaction, under the ``telegram-pace`` lock: one slot per ask (chat, group),
    in order, from every slot and reply stamp already granted; the stamps are written (and
    those older than ``prune_before`` forgotten). ``now`` may be a clock: it is then read once
    the lock is held, so that a wait for the lock does not make the replies late for their
    slots."""
    wait, idle = repo.LOCK_WAIT_MS, repo.LOCK_HOLD_IDLE_MS
    if callable(now):
        stamps.lock(session, "telegram-pace", now(), wait, idle)
        now = now()
    else:
        stamps.lock(session, "telegram-pace", now, wait, idle)
    # the recent slots and replies, by the sent_at and at indexes: the chats' second (a
    # minute for a group: rare) and the overall second out of one range of each
    groups = any(group for _, group in asks)
    reach = limits.minute if groups else max(limits.second, limits.chat_second)
    ledger = stamps.ledger_since(session, now - reach)
    replied = stamps.replies_since(session, now - reach)
    overall = [t for _, t in ledger if t > now - limits.second]
    overall += [t for _, t in replied if t > now - limits.second]
    asked = {f"telegram:{c}" for c, _ in asks if c is not None}
    chats: dict[str, list[datetime]] = {}
    for destination, t in ledger:
        if destination in asked:
            chats.setdefault(destination, []).append(t)
    for chat, t in replied:
        if f"telegram:{chat}" in asked:
            chats.setdefault(f"telegram:{chat}", []).append(t)
    granted: list[datetime] = []
    for chat, group in asks:
        mine = chats.setdefault(f"telegram:{chat}", []) if chat is not None else []
        at = reply_slot(now, overall, mine, limits, group=group)
        overall.append(at)
        mine.append(at)
        granted.append(at)
    stamps.add(session, [(chat, at) for (chat, _), at in zip(asks, granted, strict=True)])
    if prune_before is not None:
        stamps.prune(session, prune_before)
    return granted


Write = Callable[[Callable[[Session], _T]], _T]  # one committed transaction (blocking)


class BatchedReplies:
    """A reply budget that grants the replies asking at once together: ``take`` queues the
    ask and one task grants every queued ask in a batch (``_grant``), then the asks that
    came meanwhile, so a process never races itself for the budget. A store that cannot be
    reached (``_unreachable``) does not hold a reply back: it leaves at once (logged as
    ``_lost``); any other error reaches every ask of its batch."""

    _unreachable: tuple[type[BaseException], ...] = ()
    _lost = "reply budget unreachable (%s): replies leave at once"

    def __init__(self, clock: Clock, limits: Limits) -> None:
        self._clock = clock
        self.limits = limits
        self._asks: list[tuple[int | None, bool, asyncio.Future[datetime]]] = []
        self._worker: asyncio.Task[None] | None = None

    async def take(self, chat_id: int | None, *, group: bool = False) -> datetime:
        future: asyncio.Future[datetime] = asyncio.get_running_loop().create_future()
        self._asks.append((chat_id, group, future))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._drain())
        return await future

    async def _grant(self, now: datetime, asks: list[tuple[int | None, bool]]) -> list[datetime]:
        raise NotImplementedError

    async def _drain(self) -> None:
        while self._asks:
            batch, self._asks = self._asks, []
            now = self._clock()
            try:
                granted = await self._grant(now, [(chat, group) for chat, group, _ in batch])
            except self._unreachable as exc:
                logger.warning(self._lost, type(exc).__name__)
                granted = [now] * len(batch)
            except BaseException as exc:
                for _, _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                raise
            for (_, _, future), at in zip(batch, granted, strict=True):
                if not future.done():
                    future.set_result(at)

    async def aclose(self) -> None:
        if self._worker is not None:
            await asyncio.gather(self._worker, return_exceptions=True)


class DatabaseReplies(BatchedReplies):
    """Reply stamps in the database (the default budget). ``write(work)`` runs ``work`` in one
    committed transaction and blocks (called in a worker thread): a session of the sync engine,
    or on SQLite the read cache's quiet connection, so that a stamp does not empty the kept
    answers. Replies that ask while a transaction runs are stamped together in the next one.
    A database that cannot be written (locked past its timeout, gone) does not hold a reply
    back: it leaves at once, unstamped (logged; Telegram's 429 is then waited out by
    :func:`bot.telegram.replies.once_more`)."""

    PRUNE_EVERY = timedelta(seconds=10)
    _unreachable = (SQLAlchemyError,)
    _lost = "reply stamps not written (%s): replies leave at once"

    def __init__(self, write: Write[list[datetime]], clock: Clock, limits: Limits) -> None:
        super().__init__(clock, limits)
        self._write = write
        self._pruned: datetime | None = None
        self.transactions = 0  # how many were needed (replies share them under load)

    async def _grant(self, now: datetime, asks: list[tuple[int | None, bool]]) -> list[datetime]:
        prune = None
        if self._pruned is None or now - self._pruned >= self.PRUNE_EVERY:
            prune, self._pruned = now - timedelta(seconds=stamps.KEEP_SECONDS), now

        def work(session: Session) -> list[datetime]:
            return stamp_replies(session, self._clock, asks, self.limits, prune_before=prune)

        granted = await asyncio.to_thread(self._write, work)
        self.transactions += 1
        return granted


def database_replies(
    sync_sessions: sessionmaker[Session],
    clock: Clock,
    limits: Limits,
    quiet: DataVersion | None = None,
) -> DatabaseReplies:
    """The database budget: on SQLite with the read cache's signal (``quiet``), stamps are
    written on its connection (they do not empty the kept answers, as a subscriber's settings
    do not); otherwise in a session of the sync engine."""
    if isinstance(quiet, SqliteDataVersion):
        return DatabaseReplies(quiet.write, clock, limits)

    def write(work: Callable[[Session], list[datetime]]) -> list[datetime]:
        with sync_sessions.begin() as session:
            return work(session)

    return DatabaseReplies(write, clock, limits)


def _bot_id(telegram: TelegramSettings) -> str | None:
    token = telegram.token.get_secret_value() if telegram.token is not None else ""
    head = token.split(":", 1)[0]
    return head if head.isdigit() else None


def reply_budget(
    telegram: TelegramSettings,
    sync_sessions: sessionmaker[Session],
    clock: Clock,
    *,
    quiet: DataVersion | None = None,
    redis_url: str | None = None,
) -> ReplyBudget:
    """The replies' side of the one budget: Redis when ``redis_url`` is set (every process of
    the bot must then be given it), else the database."""
    limits = reply_limits(telegram.messages_per_second)
    if redis_url:
        from bot.services.budget_redis import prefix_for, redis_replies

        return redis_replies(redis_url, clock, limits, prefix_for(_bot_id(telegram)))
    return database_replies(sync_sessions, clock, limits, quiet)


def slot_book(telegram: TelegramSettings, redis_url: str | None = None) -> SlotBook:
    """The ledger's side: the same place as :func:`reply_budget`'s."""
    if redis_url:
        from bot.services.budget_redis import prefix_for, redis_book

        return redis_book(redis_url, prefix_for(_bot_id(telegram)))
    return DatabaseBook()
