"""The outbox dispatcher: releases due posts and works the delivery ledger.

Per delivery: claim (compare-and-set, committed) -> call the platform -> record the outcome
(committed at once). A claim whose lease runs out without an outcome is "outcome unknown":
X is resent (its duplicate-content answer proves an earlier success), Telegram is resent or
parked by setting. Every job here is idempotent: run it twice, from two processes, after a
crash: nothing is posted twice by us, nothing is lost.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.config import Settings
from bot.domain.retry import backoff_seconds
from bot.domain.slots import next_slots
from bot.publish.base import (
    Migrated,
    Outgoing,
    Permanent,
    Publisher,
    PublishError,
    RateLimited,
    Sent,
    Transient,
    Unreachable,
)
from bot.publish.notify import Notifier
from bot.services.budget import Usage, XBudget
from bot.services.compose import compose_post
from bot.services.queue import PAUSED_KEY, slot_rule, weekly_rule
from bot.store import queue as repo
from bot.store.models import Delivery

logger = logging.getLogger(__name__)
T = TypeVar("T")
MAX_ROUNDS = 1000


@dataclass(slots=True)
class _Round:
    """What one tick remembers between deliveries: paused platforms, composed posts, X usage."""

    paused: set[str]
    composed: dict[int, Outgoing | None] = field(default_factory=dict)
    x_usage: Usage | None = None


@dataclass(slots=True)
class TickReport:
    released: list[int] = field(default_factory=list)
    sent: list[tuple[int, str]] = field(default_factory=list)  # (post id, destination)
    retrying: list[tuple[int, str, str]] = field(default_factory=list)  # (+ reason)
    failed: list[tuple[int, str, str]] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)  # why something waits (caps, pauses)


def platform(destination: str) -> str:
    return destination.split(":", 1)[0]


class Dispatcher:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        sync_sessions: sessionmaker[Session],
        clock: Clock,
        settings: Settings,
        publishers: Mapping[str, Publisher],
        destinations: Sequence[str],
        notifier: Notifier,
        rng: random.Random | None = None,
    ) -> None:
        self._sessions = sessions
        self._sync_sessions = sync_sessions
        self._clock = clock
        self._settings = settings
        self._delivery = settings.delivery
        self._publishers = dict(publishers)
        self._destinations = list(destinations)
        self._notifier = notifier
        self._rng = rng or random.Random()
        self._rule = slot_rule(settings.schedule)
        self._weekly = weekly_rule(settings.schedule)
        self._budget = XBudget(settings.twitter, settings.schedule.timezone)
        self._stopping = False

    async def _write(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """One ledger write in its own committed transaction, on the sync engine in a thread."""

        def run() -> T:
            with self._sync_sessions.begin() as session:
                return fn(session, *args, **kwargs)

        return await asyncio.to_thread(run)

    def stop(self) -> None:
        """Finish the delivery in hand, then claim nothing more (graceful shutdown)."""
        self._stopping = True

    async def tick(self, now: datetime | None = None) -> TickReport:
        report = TickReport()
        moment = now or self._clock()
        report.released = await self.release_due(moment)
        await self.deliver_due(moment, report)
        async with self._sessions.begin() as session:
            await repo.settle_posts(session, moment)
        return report

    # --- releasing posts -------------------------------------------------------------------

    async def release_due(self, now: datetime) -> list[int]:
        """At most one paper post and one digest post per run; overdue ones move forward."""
        released: list[int] = []
        if not self._destinations:
            logger.warning("no destination is configured: posts stay queued")
            return released
        async with self._sessions.begin() as session:
            await repo.take_lock(session, "queue", now)
            if await repo.get_state(session, PAUSED_KEY) == "1":
                return released
            papers = [p for p in await repo.queued_papers(session) if p.slot and p.slot <= now]
            digests = [p for p in await repo.queued_digests(session) if p.slot and p.slot <= now]
            for group in (sorted(papers, key=lambda p: (p.slot, p.rank)), digests):
                if group:
                    first = group[0]
                    first.state, first.updated_at = "sending", now
                    await repo.create_deliveries(session, first.id, self._destinations, now)
                    released.append(first.id)
            await session.flush()
            if len(papers) > 1:
                await self._reslot_papers(session, now)
            for late in digests[1:]:
                late.slot = self._weekly.next_on_or_after(now + timedelta(minutes=1))
        for post_id in released:
            logger.info("post %s released to %s", post_id, ", ".join(self._destinations))
        return released

    async def _reslot_papers(self, session: AsyncSession, now: datetime) -> None:
        posts = await repo.queued_papers(session)
        for post, slot in zip(posts, next_slots(self._rule, now, len(posts)), strict=True):
            post.slot = slot

    # --- the ledger ------------------------------------------------------------------------

    async def deliver_due(self, now: datetime, report: TickReport) -> None:
        tried: set[int] = set()
        async with self._sessions() as session:
            state = _Round(set(await self._paused_platforms(session, now)))
        for _ in range(MAX_ROUNDS):
            if self._stopping:
                return
            async with self._sessions() as session:
                rows = await repo.due_deliveries(session, now, skip_prefixes=sorted(state.paused))
            rows = [r for r in rows if r.id not in tried]
            if not rows:
                return
            for row in rows:
                tried.add(row.id)
                if self._stopping:
                    return
                if platform(row.destination) not in state.paused:
                    await self._deliver(row, now, report, state)

    async def _paused_platforms(self, session: AsyncSession, now: datetime) -> list[str]:
        paused = []
        for name in ("x", "telegram"):
            until = await repo.get_state(session, f"pause:{name}")
            if until and datetime.fromisoformat(until) > now:
                paused.append(name)
        return paused

    async def _deliver(
        self,
        row: Delivery,
        now: datetime,
        report: TickReport,
        state: _Round,
    ) -> None:
        # a tick can take long (rate limits, many deliveries): leases and sent times use the
        # clock at this delivery, never the tick's start, so no lease is born expired
        now = max(now, self._clock())
        name = platform(row.destination)
        publisher = self._publishers.get(name)
        if publisher is None:
            await self._fail(row, now, "dead", f"no publisher for {row.destination}", report)
            return
        if row.post_id not in state.composed:
            async with self._sessions() as session:
                state.composed[row.post_id] = await compose_post(
                    session, row.post_id, self._settings
                )
        outgoing = state.composed[row.post_id]
        if outgoing is None:
            await self._fail(row, now, "cancelled", "the post no longer exists", report)
            return
        if name == "x" and not await self._x_allowed(row, outgoing, now, report, state):
            return
        lease = now + timedelta(seconds=self._delivery.lease_seconds)
        unknown = row.state == "sending"  # an earlier claim's lease ran out: outcome unknown
        if not await self._write(repo.claim, row, now, lease):
            return  # another worker has it
        if unknown and name == "telegram" and not await self._may_resend(row, now, report):
            return
        try:
            result = await publisher.send(row.destination, outgoing)
        except PublishError as exc:
            if isinstance(exc, RateLimited):
                state.paused.add(name)
            await self._on_error(row, exc, now, report)
            return
        except Exception as exc:  # an adapter bug must not lose the post: retry, then dead-letter
            logger.exception("publisher %s crashed on post %s", name, row.post_id)
            await self._on_error(row, Transient(f"{type(exc).__name__}: {exc}"), now, report)
            return
        await self._on_sent(row, outgoing, result, now, report)
        if name == "x" and state.x_usage is not None:
            state.x_usage.add(self._budget.cost(outgoing.x_text))

    async def _x_allowed(
        self, row: Delivery, outgoing: Outgoing, now: datetime, report: TickReport, state: _Round
    ) -> bool:
        if state.x_usage is None:
            async with self._sessions() as session:
                state.x_usage = await self._budget.usage(session, now)
        verdict = self._budget.check(state.x_usage, outgoing.x_text, now)
        if verdict.allowed:
            return True
        assert verdict.resume_at is not None and verdict.reason is not None
        async with self._sessions.begin() as session:
            await session.execute(repo.postpone_stmt(row.id, verdict.resume_at, now))
            first = await repo.get_state(session, verdict.alert_key) is None
            await repo.set_state(session, verdict.alert_key, "1", now)
        report.waiting.append(verdict.reason)
        if first:
            await self._notifier.alert(verdict.reason)
        return False

    async def _may_resend(self, row: Delivery, now: datetime, report: TickReport) -> bool:
        """Telegram gives no way to ask "did my last message arrive?"; policy decides."""
        policy = self._delivery.telegram_unknown_outcome
        too_many = row.duplicates + 1 > self._delivery.max_unknown_resends
        if policy == "resend" and not too_many:
            await self._write(
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
        await self._fail(row, now, "parked", reason, report)
        return False

    async def _on_sent(
        self, row: Delivery, outgoing: Outgoing, result: Sent, now: datetime, report: TickReport
    ) -> None:
        cost = self._budget.cost(outgoing.x_text) if platform(row.destination) == "x" else None
        note = "already posted (duplicate content)" if result.duplicate else None
        await self._write(
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

    async def _on_error(
        self, row: Delivery, exc: PublishError, now: datetime, report: TickReport
    ) -> None:
        name = platform(row.destination)
        message = str(exc) or type(exc).__name__
        if isinstance(exc, RateLimited):
            resume = now + timedelta(seconds=exc.retry_after)
            async with self._sessions.begin() as session:
                await repo.set_state(session, f"pause:{name}", resume.isoformat(), now)
                await session.run_sync(
                    repo.finish_delivery,
                    row.id,
                    now,
                    state="pending",
                    due_at=resume,
                    lease_until=None,
                    attempts=row.attempts,
                    last_error=f"rate limited: {message}",
                )
            report.retrying.append(
                (row.post_id, row.destination, f"rate limited {exc.retry_after:g}s")
            )
            return
        if isinstance(exc, Migrated):
            await self._fail(
                row,
                now,
                "failed",
                f"chat migrated to {exc.new_chat_id}: update telegram.channel_id",
                report,
            )
            return
        if isinstance(exc, Transient):
            if exc.maybe_sent and name == "telegram":
                # the message may have arrived: the unknown-outcome policy decides
                if not await self._may_resend(row, now, report):
                    return
                row.duplicates += 1
            await self._retry(row, message, now, report)
            return
        kind = "unreachable" if isinstance(exc, Unreachable) else "rejected"
        assert isinstance(exc, Permanent | Unreachable)
        await self._fail(row, now, "failed", f"{name} {kind} the post: {message}", report)

    async def _retry(self, row: Delivery, message: str, now: datetime, report: TickReport) -> None:
        attempts = row.attempts + 1
        if attempts >= self._delivery.max_attempts:
            reason = f"gave up after {attempts} attempts: {message}"
            await self._fail(row, now, "dead", reason, report)
            return
        delay = backoff_seconds(
            attempts,
            base=self._delivery.backoff_base_seconds,
            cap=self._delivery.backoff_cap_seconds,
            rng=self._rng,
        )
        await self._write(
            repo.finish_delivery,
            row.id,
            now,
            state="pending",
            lease_until=None,
            last_error=message,
            due_at=now + timedelta(seconds=delay),
        )
        report.retrying.append((row.post_id, row.destination, message))

    async def _fail(
        self, row: Delivery, now: datetime, state: str, reason: str, report: TickReport
    ) -> None:
        await self._write(repo.force_delivery_state, row.id, now, state=state, last_error=reason)
        report.failed.append((row.post_id, row.destination, reason))
        if state != "cancelled":
            await self._notifier.alert(f"post {row.post_id} to {row.destination} {state}: {reason}")
