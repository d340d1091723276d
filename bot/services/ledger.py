"""Recording delivery outcomes in the ledger: sent, retry with back-off, pause a platform,
fail and tell the maintainer, the unknown-outcome policy. Shared by the sequential dispatcher
and the broadcaster; every write is its own committed transaction, on the sync engine in a
worker thread (plain SQL, one hop)."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, sessionmaker

from bot.config import Settings
from bot.domain.retry import backoff_seconds
from bot.publish.base import (
    CHANNEL,
    ChatBusy,
    Migrated,
    Outgoing,
    Permanent,
    PublishError,
    RateLimited,
    Sent,
    Transient,
    Unauthorized,
    Unreachable,
)
from bot.publish.notify import Notifier, delivery_alert_kind
from bot.services import pauses
from bot.services.budget import XBudget
from bot.services.queue import PROBE_KEY
from bot.store import queue as repo
from bot.store.queue import LedgerRow

logger = logging.getLogger("bot.services.dispatch")
T = TypeVar("T")
AUTH_PAUSE_SECONDS = 600.0  # rejected credentials: look again after this long
WRITE_TRIES = 3  # a ledger write that meets a locked database is tried this often


class DatabaseBusy(Exception):
    """The database stayed locked through every try of a ledger write."""


@dataclass(slots=True)
class Round:
    """What one tick remembers between deliveries: paused platforms, composed posts, and
    whether Telegram is probing (one send at a time after an unknown outcome)."""

    paused: set[str]
    composed: dict[int, Outgoing | None] = field(default_factory=dict)
    broadcasts: set[int] = field(default_factory=set)  # posts sent to subscribers this run
    probing: bool = False
    probed: bool = False


@dataclass(slots=True)
class TickReport:
    released: list[int] = field(default_factory=list)
    sent: list[tuple[int, str]] = field(default_factory=list)  # (post id, destination)
    retrying: list[tuple[int, str, str]] = field(default_factory=list)  # (+ reason)
    failed: list[tuple[int, str, str]] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)  # why something waits (caps, pauses)
    problems: list[str] = field(default_factory=list)  # why this run stopped early (db locked)


def platform(destination: str) -> str:
    return destination.split(":", 1)[0]


def subscriber_chat(destination: str) -> int | None:
    """The chat id of a subscriber's destination (``telegram:<id>``), else None."""
    if destination == CHANNEL or not destination.startswith("telegram:"):
        return None
    tail = destination.split(":", 1)[1]
    return int(tail) if tail.lstrip("-").isdigit() else None


def is_lock(exc: OperationalError) -> bool:
    text = str(exc.orig).lower()
    return "locked" in text or "busy" in text or "lock timeout" in text


def _rekey(session: Session, /, row: LedgerRow, new_chat: int, now: datetime) -> None:
    old_chat = subscriber_chat(row.destination)
    assert old_chat is not None
    repo.rekey_subscriber(session, old_chat, new_chat, now)
    repo.rekey_chat(session, row.destination, f"telegram:{new_chat}", row.id, now)


class Ledger:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        sync_sessions: sessionmaker[Session],
        settings: Settings,
        notifier: Notifier,
        rng: random.Random,
    ) -> None:
        self._sessions = sessions
        self._sync_sessions = sync_sessions
        self._settings = settings
        self._delivery = settings.delivery
        self._notifier = notifier
        self._rng = rng
        self.budget = XBudget(settings.twitter, settings.schedule.timezone)

    async def write(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """One ledger write in its own committed transaction, on the sync engine in a thread.
        A locked database (past the busy timeout) is tried again, then :class:`DatabaseBusy`."""

        def run() -> T:
            with self._sync_sessions.begin() as session:
                return fn(session, *args, **kwargs)

        for attempt in range(1, WRITE_TRIES + 1):
            try:
                return await asyncio.to_thread(run)
            except OperationalError as exc:
                if not is_lock(exc) or attempt == WRITE_TRIES:
                    if is_lock(exc):
                        raise DatabaseBusy(str(exc.orig)) from None
                    raise
                logger.warning("database locked during a ledger write; trying again")
        raise AssertionError("unreachable")

    async def set_probe(self, post_id: int | None, now: datetime) -> None:
        async with self._sessions.begin() as session:
            await repo.set_state(session, PROBE_KEY, None if post_id is None else str(post_id), now)

    async def may_resend(self, row: LedgerRow, now: datetime, report: TickReport) -> bool:
        """Telegram gives no way to ask "did my last message arrive?"; policy decides. Called
        with the delivery claimed (an expired lease), before resending it."""
        policy = self._delivery.telegram_unknown_outcome
        too_many = row.duplicates + 1 > self._delivery.max_unknown_resends
        if policy == "resend" and not too_many:
            await self.write(
                repo.finish_delivery, row.id, now, state="sending", duplicates=row.duplicates + 1
            )
            logger.warning(
                "post %s to %s: outcome unknown, resending", row.post_id, row.destination
            )
            return True
        reason = (
            f"post {row.post_id} to {row.destination}: a send was interrupted and its outcome is "
            "unknown; parked (check the channel, then `digestbot queue now` to resend)"
        )
        await self.fail(row, now, "parked", reason, report)
        return False

    async def on_sent(
        self, row: LedgerRow, outgoing: Outgoing, result: Sent, now: datetime, report: TickReport
    ) -> None:
        x_text = outgoing.x_text if platform(row.destination) == "x" else None
        cost = self.budget.cost(x_text) if x_text is not None else None
        note = "already posted (duplicate content)" if result.duplicate else None
        await self.write(
            repo.finish_delivery,
            row.id,
            now,
            state="sent",
            remote_id=result.remote_id,
            sent_at=now,
            lease_until=None,
            last_error=note,
            cost_usd=cost,
        )
        report.sent.append((row.post_id, row.destination))
        logger.info("post %s sent to %s (%s)", row.post_id, row.destination, result.remote_id)

    async def on_error(
        self, row: LedgerRow, exc: PublishError, now: datetime, report: TickReport
    ) -> None:
        name = platform(row.destination)
        message = str(exc) or type(exc).__name__
        if isinstance(exc, ChatBusy):  # our pacing of one chat: only this delivery waits
            await self.write(
                repo.finish_delivery,
                row.id,
                now,
                state="pending",
                due_at=now + timedelta(seconds=exc.wait),
                lease_until=None,
                attempts=row.attempts,
                sent_at=None,
                cost_usd=None,
            )
            report.retrying.append((row.post_id, row.destination, f"pacing {exc.wait:.1f}s"))
            return
        chat = subscriber_chat(row.destination)
        if chat is not None and isinstance(exc, Unreachable):
            # blocked, deactivated, chat not found: silently, at once, until they /start
            await self.write(repo.block_subscriber, chat, now)
            await self.write(repo.cancel_chat, row.destination, now, f"unreachable: {message}")
            await self.fail(row, now, "cancelled", f"subscriber unreachable: {message}", report)
            return
        if isinstance(exc, RateLimited):
            reason = f"rate limited: {message}"
            await self.pause(name, now, exc.retry_after, reason, row, report)
            report.retrying.append(
                (row.post_id, row.destination, f"rate limited {exc.retry_after:g}s")
            )
            return
        if isinstance(exc, Migrated):
            if chat is not None:  # a subscriber's group became a supergroup: follow it, resend
                await self.write(_rekey, row, exc.new_chat_id, now)
                new = f"telegram:{exc.new_chat_id}"
                report.retrying.append((row.post_id, new, f"chat migrated from {chat}"))
                logger.info("subscriber chat %s migrated to %s", chat, exc.new_chat_id)
                return
            await self.fail(
                row,
                now,
                "failed",
                f"chat migrated to {exc.new_chat_id}: update telegram.channel_id",
                report,
            )
            return
        if isinstance(exc, Unauthorized):
            await self.pause(name, now, AUTH_PAUSE_SECONDS, message, row, report)
            report.retrying.append((row.post_id, row.destination, message))
            report.problems.append(message)
            return
        if isinstance(exc, Transient):
            wait = 0.0
            if exc.maybe_sent and name == "telegram":
                # the message may have arrived: the unknown-outcome policy decides; a resend
                # waits long enough for a slow answer, and Telegram probes one send at a time
                await self.set_probe(row.post_id, now)
                if not await self.may_resend(row, now, report):
                    return
                row.duplicates += 1
                wait = self._settings.telegram.send_timeout_seconds
            await self.retry(row, message, now, report, at_least=wait)
            return
        kind = "unreachable" if isinstance(exc, Unreachable) else "rejected"
        assert isinstance(exc, Permanent | Unreachable)
        await self.fail(row, now, "failed", f"{name} {kind} the post: {message}", report)

    async def pause(
        self,
        name: str,
        now: datetime,
        seconds: float,
        reason: str,
        row: LedgerRow,
        report: TickReport,
    ) -> None:
        """The whole platform waits ``seconds`` of real time (not an attempt); the delivery in
        hand goes back to pending, its reservation released. Told once per pause."""
        resume = now + timedelta(seconds=seconds)
        async with self._sessions.begin() as session:
            known = {p.platform: p for p in await pauses.active_pauses(session, now)}
            await pauses.set_pause(session, name, resume, reason, now)
            await session.run_sync(
                repo.finish_delivery,
                row.id,
                now,
                state="pending",
                due_at=resume,
                lease_until=None,
                attempts=row.attempts,
                sent_at=None,
                cost_usd=None,
                last_error=reason,
            )
        if seconds >= AUTH_PAUSE_SECONDS and name not in known:
            await self._notifier.alert(f"{name} paused: {reason}")

    async def retry(
        self, row: LedgerRow, message: str, now: datetime, report: TickReport, at_least: float = 0
    ) -> None:
        attempts = row.attempts + 1
        if attempts >= self._delivery.max_attempts:
            reason = f"gave up after {attempts} attempts: {message}"
            await self.fail(row, now, "dead", reason, report)
            return
        delay = backoff_seconds(
            attempts,
            base=self._delivery.backoff_base_seconds,
            cap=self._delivery.backoff_cap_seconds,
            rng=self._rng,
        )
        await self.write(
            repo.finish_delivery,
            row.id,
            now,
            state="pending",
            lease_until=None,
            last_error=message,
            sent_at=None,
            cost_usd=None,
            due_at=now + timedelta(seconds=max(delay, at_least)),
        )
        report.retrying.append((row.post_id, row.destination, message))

    async def fail(
        self, row: LedgerRow, now: datetime, state: str, reason: str, report: TickReport
    ) -> None:
        await self.write(repo.force_delivery_state, row.id, now, state=state, last_error=reason)
        if state == "cancelled":
            return
        report.failed.append((row.post_id, row.destination, reason))
        text = f"post {row.post_id} to {row.destination} {state}: {reason}"
        if subscriber_chat(row.destination) is not None:
            # one alert per post, however many subscribers its message fails for
            key = f"alert:subscribers:{row.post_id}"
            async with self._sessions.begin() as session:
                if await repo.get_state(session, key) is not None:
                    return
                await repo.set_state(session, key, "1", now)
            text = f"{text} (further subscriber failures of this post are not announced)"
        await self._notifier.alert(text, post_id=row.post_id, kind=delivery_alert_kind(state))
