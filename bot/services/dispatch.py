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
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.config import Settings
from bot.domain.quiet import release_time
from bot.domain.retry import backoff_seconds
from bot.domain.slots import next_slots
from bot.publish.base import (
    CHANNEL,
    ChatBusy,
    Migrated,
    Outgoing,
    Permanent,
    Publisher,
    PublishError,
    RateLimited,
    Sent,
    Transient,
    Unauthorized,
    Unreachable,
)
from bot.publish.notify import Notifier
from bot.services import pauses
from bot.services.budget import XBudget
from bot.services.compose import compose_post
from bot.services.pace import TelegramPace
from bot.services.queue import PAUSED_KEY, PROBE_KEY, slot_rule, weekly_rule
from bot.store import queue as repo
from bot.store import subscribers as subscribers_repo
from bot.store.models import Delivery

logger = logging.getLogger(__name__)
T = TypeVar("T")
MAX_ROUNDS = 1000
LONG_BROADCAST = 100  # subscribers: from this many on, the maintainer sees the progress
AUTH_PAUSE_SECONDS = 600.0  # rejected credentials: look again after this long
WRITE_TRIES = 3  # a ledger write that meets a locked database is tried this often


class DatabaseBusy(Exception):
    """The database stayed locked through every try of a ledger write."""


@dataclass(slots=True)
class _Round:
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
    """The chat id of a subscriber's private-chat destination (``telegram:<id>``), else None."""
    if destination == CHANNEL or not destination.startswith("telegram:"):
        return None
    tail = destination.split(":", 1)[1]
    return int(tail) if tail.lstrip("-").isdigit() else None


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
        *,
        real_clock: Clock | None = None,
        waiting: Callable[[str], str | None] | None = None,
        broadcast: bool = False,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        """``clock`` is the run's view of time (``--now`` moves it); ``real_clock`` (default:
        ``clock``) tells a travelled run from a real one. ``publishers`` and ``destinations``
        are read live (a platform may connect later); ``waiting(platform)`` says why a
        configured platform cannot be used yet."""
        self._sessions = sessions
        self._sync_sessions = sync_sessions
        self._clock = clock
        self._real = real_clock or clock
        self._settings = settings
        self._delivery = settings.delivery
        self._publishers = publishers
        self._destinations = destinations
        self._waiting = waiting or (lambda _platform: None)
        self._broadcast = broadcast  # Telegram is configured: subscribers get posts too
        self._sleep = sleep or asyncio.sleep  # tests pass one that moves their clock
        self._pace = TelegramPace(per_second=settings.telegram.messages_per_second)
        self._notifier = notifier
        self._rng = rng or random.Random()
        self._rule = slot_rule(settings.schedule)
        self._weekly = weekly_rule(settings.schedule)
        self._budget = XBudget(settings.twitter, settings.schedule.timezone)
        self._stopping = False

    async def _write(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """One ledger write in its own committed transaction, on the sync engine in a thread.
        A locked database (past the busy timeout) is tried again, then :class:`DatabaseBusy`."""

        def run() -> T:
            with self._sync_sessions.begin() as session:
                return fn(session, *args, **kwargs)

        for attempt in range(1, WRITE_TRIES + 1):
            try:
                return await asyncio.to_thread(run)
            except OperationalError as exc:
                if not _is_lock(exc) or attempt == WRITE_TRIES:
                    if _is_lock(exc):
                        raise DatabaseBusy(str(exc.orig)) from None
                    raise
                logger.warning("database locked during a ledger write; trying again")
        raise AssertionError("unreachable")

    def stop(self) -> None:
        """Finish the delivery in hand, then claim nothing more (graceful shutdown)."""
        self._stopping = True

    async def tick(self, now: datetime | None = None) -> TickReport:
        """Release the posts due at ``now`` (default: the clock), then work the ledger on the
        real clock. A database that stays locked ends this run with one line in ``problems``;
        whatever was claimed is released by its lease, and the next tick goes on."""
        report = TickReport()
        moment = now or self._clock()
        try:
            report.released = await self.release_due(moment)
            await self.deliver_due(moment, report)
            async with self._sessions.begin() as session:
                await repo.settle_posts(session, moment)
        except DatabaseBusy as exc:
            line = f"the database stayed locked ({exc}); the rest waits for the next run"
            logger.warning(line)
            report.problems.append(line)
        except OperationalError as exc:
            if not _is_lock(exc):
                raise
            line = f"the database is locked ({exc.orig}); the rest waits for the next run"
            logger.warning(line)
            report.problems.append(line)
        return report

    # --- releasing posts -------------------------------------------------------------------

    async def release_due(self, now: datetime) -> list[int]:
        """At most one paper post and one digest post per run; overdue ones move forward."""
        released: list[int] = []
        if not self._destinations and not self._broadcast:
            logger.warning("no destination is configured: posts stay queued")
            return released
        async with self._sessions.begin() as session:
            await repo.take_lock(session, "queue", now)
            if await repo.get_state(session, PAUSED_KEY) == "1":
                return released
            papers = await repo.due_posts(session, "paper", now, limit=2)
            digests = await repo.due_posts(session, "digest", now)
            for group in (papers, digests):
                if group:
                    first = group[0]
                    first.state, first.updated_at = "sending", now
                    await repo.create_deliveries(session, first.id, self._destinations, now)
                    if self._broadcast:
                        await self._add_audience(session, first.id, first.kind, now)
                    released.append(first.id)
            await session.flush()
            if len(papers) > 1:
                await self._reslot_papers(session, now)
            for late in digests[1:]:
                late.slot = self._weekly.next_on_or_after(now + timedelta(minutes=1))
        for post_id in released:
            logger.info("post %s released to %s", post_id, ", ".join(self._destinations))
        return released

    async def _add_audience(
        self, session: AsyncSession, post_id: int, kind: str, now: datetime
    ) -> None:
        """The subscribers who want this kind of post, worked out now (when it is released):
        a delivery each, due when their quiet hours end."""
        wanted: subscribers_repo.AudienceKind = "digest" if kind == "digest" else "paper"
        recipients = await subscribers_repo.audience(session, wanted)
        due = [
            (
                f"telegram:{r.chat_id}",
                release_time(now, r.quiet_start, r.quiet_end, r.timezone),
            )
            for r in recipients
        ]
        await repo.create_timed_deliveries(session, post_id, due, now)
        if due:
            logger.info("post %s goes to %d subscribers", post_id, len(due))

    async def _reslot_papers(self, session: AsyncSession, now: datetime) -> None:
        posts = await repo.queued_papers(session)
        for post, slot in zip(posts, next_slots(self._rule, now, len(posts)), strict=True):
            post.slot = slot

    # --- the ledger ------------------------------------------------------------------------

    def _horizon(self, now: datetime) -> repo.Horizon | None:
        """Waits that lie further ahead than any wait this bot sets (a lease, a back-off, a
        platform pause) were left by a run at a travelled ``--now``: a run that is not in the
        past treats them as over, so a rehearsal of the future never blocks real runs."""
        if now < self._real() - timedelta(minutes=1):
            return None  # a run in the past must not take over the present's leases
        longest = max(self._delivery.backoff_cap_seconds, pauses.LONGEST_SECONDS)
        return repo.Horizon(
            wait=now + timedelta(seconds=longest + 60),
            lease=now + timedelta(seconds=self._delivery.lease_seconds + 60),
        )

    async def deliver_due(self, now: datetime, report: TickReport) -> None:
        tried: set[int] = set()
        horizon = self._horizon(now)
        async with self._sessions() as session:
            active = await pauses.active_pauses(session, now)
            probing = await repo.get_state(session, PROBE_KEY) is not None
        state = _Round({p.platform for p in active}, probing=probing)
        for pause in active:
            report.waiting.append(
                f"{pause.platform} paused until {pause.until:%H:%M:%S} UTC: {pause.reason}"
            )
        for name in ("x", "telegram"):
            reason = self._waiting(name)
            if reason is not None and name not in state.paused:
                state.paused.add(name)
                report.waiting.append(reason)
        await self._deliver_rounds(now, report, state, tried, horizon)
        await self._show_broadcasts(state.broadcasts)

    async def _deliver_rounds(
        self,
        now: datetime,
        report: TickReport,
        state: _Round,
        tried: set[int],
        horizon: repo.Horizon | None,
    ) -> None:
        for _ in range(MAX_ROUNDS):
            if self._stopping:
                return
            async with self._sessions() as session:
                rows = await repo.due_deliveries(
                    session, now, skip_prefixes=sorted(state.paused), horizon=horizon
                )
            rows = [r for r in rows if r.id not in tried]
            if not rows:
                return
            if state.probing:  # probe with a fresh post before any maybe-delivered one
                rows.sort(key=lambda r: r.duplicates > 0 or r.state == "sending")
            for row in rows:
                tried.add(row.id)
                if self._stopping:
                    return
                if platform(row.destination) not in state.paused:
                    await self._deliver(row, now, report, state, horizon)

    async def _deliver(
        self,
        row: Delivery,
        now: datetime,
        report: TickReport,
        state: _Round,
        horizon: repo.Horizon | None = None,
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
        if name == "x" and outgoing.x_text is None:
            reason = "not posted to X (no arXiv id, twitter.link_fallback = skip)"
            await self._fail(row, now, "cancelled", reason, report)
            return
        if name == "telegram" and state.probing:
            # after an unknown outcome: one send at a time until one is confirmed, and no
            # resend of a maybe-delivered post before then unless nothing else can probe
            if state.probed:
                return
            state.probed = True
        lease = now + timedelta(seconds=self._delivery.lease_seconds)
        if name == "x":
            assert outgoing.x_text is not None
            if not await self._claim_x(row, outgoing.x_text, lease, now, report, state, horizon):
                return
        else:
            claimed_at = await self._claim_telegram(row, lease, now, report, horizon)
            if claimed_at is None:
                return  # another worker has it, or this chat must wait
            now = claimed_at  # the overall pace may have waited: stamps must be exact
        if (
            row.state == "sending"
            and name == "telegram"
            and not await self._may_resend(row, now, report)
        ):
            return
        try:
            result = await publisher.send(row.destination, outgoing)
        except PublishError as exc:
            if isinstance(exc, RateLimited | Unauthorized):
                state.paused.add(name)
            if isinstance(exc, Transient) and exc.maybe_sent and name == "telegram":
                state.probing = state.probed = True
            await self._on_error(row, exc, now, report)
            return
        except Exception as exc:  # an adapter bug must not lose the post: retry, then dead-letter
            logger.exception("publisher %s crashed on post %s", name, row.post_id)
            await self._on_error(row, Transient(f"{type(exc).__name__}: {exc}"), now, report)
            return
        await self._on_sent(row, outgoing, result, now, report)
        if subscriber_chat(row.destination) is not None:
            state.broadcasts.add(row.post_id)
        if name == "telegram" and state.probing:
            state.probing = state.probed = False
            await self._set_probe(None, now)
            logger.info("Telegram confirmed a send: back to normal pace")

    async def _show_broadcasts(self, posts: set[int]) -> None:
        """A long broadcast's progress for the maintainer: sent / total and failures, one
        message per post edited in place, "finished" at the end."""
        for post_id in sorted(posts):
            async with self._sessions() as session:
                counts = await repo.broadcast_counts(session, post_id)
            total = sum(counts.values())
            if total < LONG_BROADCAST:
                continue
            sent = counts.get("sent", 0)
            blocked = counts.get("cancelled", 0)
            failed = sum(counts.get(s, 0) for s in ("failed", "dead", "parked"))
            waiting = counts.get("pending", 0) + counts.get("sending", 0)
            done = "finished" if not waiting else f"{waiting:,} to go"
            await self._notifier.progress(
                f"broadcast:{post_id}",
                f"broadcast of post {post_id}: {sent:,} / {total:,} sent, {blocked:,} blocked, "
                f"{failed:,} failed; {done}",
            )

    async def _claim_x(
        self,
        row: Delivery,
        x_text: str,
        lease: datetime,
        now: datetime,
        report: TickReport,
        state: _Round,
        horizon: repo.Horizon | None,
    ) -> bool:
        """Claim with a reservation against the cap and budget, in one transaction. When they
        say wait, X waits for the rest of this run; nothing is postponed in the database, so a
        raised cap or a new day applies at the next tick."""
        verdict = await self._write(self._budget.claim, row, x_text, now, lease, horizon)
        if verdict.allowed:
            return verdict.claimed
        assert verdict.reason is not None
        state.paused.add("x")
        async with self._sessions.begin() as session:
            first = await repo.get_state(session, verdict.alert_key) is None
            if first:
                await repo.set_state(session, verdict.alert_key, "1", now)
        report.waiting.append(verdict.reason)
        if first:
            await self._notifier.alert(verdict.reason)
        return False

    async def _claim_telegram(
        self,
        row: Delivery,
        lease: datetime,
        now: datetime,
        report: TickReport,
        horizon: repo.Horizon | None,
    ) -> datetime | None:
        """Claim under Telegram's limits, kept in the database for every process: the overall
        limit makes this run wait (briefly, on the injected sleep); one chat's limit delays only
        that chat's delivery. Returns the moment of the claim, None when not claimed."""
        for _ in range(100):
            verdict = await self._write(self._pace.claim, row, now, lease, horizon)
            if verdict.claimed:
                return now
            if verdict.wait <= 0:
                return None  # another worker has it
            if not verdict.whole_platform:
                due = now + timedelta(seconds=verdict.wait)
                await self._write(repo.postpone, row.id, due, now)
                wait = f"pacing {verdict.wait:.1f}s"
                report.retrying.append((row.post_id, row.destination, wait))
                return None
            await self._sleep(verdict.wait)
            now = max(now + timedelta(seconds=verdict.wait), self._clock())
            lease = now + timedelta(seconds=self._delivery.lease_seconds)
        return None

    async def _set_probe(self, post_id: int | None, now: datetime) -> None:
        async with self._sessions.begin() as session:
            await repo.set_state(session, PROBE_KEY, None if post_id is None else str(post_id), now)

    async def _may_resend(self, row: Delivery, now: datetime, report: TickReport) -> bool:
        """Telegram gives no way to ask "did my last message arrive?"; policy decides. Called
        with the delivery claimed (an expired lease), before resending it."""
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
        x_text = outgoing.x_text if platform(row.destination) == "x" else None
        cost = self._budget.cost(x_text) if x_text is not None else None
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
        if isinstance(exc, ChatBusy):  # our pacing of one chat: only this delivery waits
            await self._write(
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
            await self._write(repo.block_subscriber, chat, now)
            await self._write(repo.cancel_chat, row.destination, now, f"unreachable: {message}")
            await self._fail(row, now, "cancelled", f"subscriber unreachable: {message}", report)
            return
        if isinstance(exc, RateLimited):
            reason = f"rate limited: {message}"
            await self._pause(name, now, exc.retry_after, reason, row, report)
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
        if isinstance(exc, Unauthorized):
            await self._pause(name, now, AUTH_PAUSE_SECONDS, message, row, report)
            report.retrying.append((row.post_id, row.destination, message))
            report.problems.append(message)
            return
        if isinstance(exc, Transient):
            wait = 0.0
            if exc.maybe_sent and name == "telegram":
                # the message may have arrived: the unknown-outcome policy decides; a resend
                # waits long enough for a slow answer, and Telegram probes one send at a time
                await self._set_probe(row.post_id, now)
                if not await self._may_resend(row, now, report):
                    return
                row.duplicates += 1
                wait = self._settings.telegram.send_timeout_seconds
            await self._retry(row, message, now, report, at_least=wait)
            return
        kind = "unreachable" if isinstance(exc, Unreachable) else "rejected"
        assert isinstance(exc, Permanent | Unreachable)
        await self._fail(row, now, "failed", f"{name} {kind} the post: {message}", report)

    async def _pause(
        self,
        name: str,
        now: datetime,
        seconds: float,
        reason: str,
        row: Delivery,
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

    async def _retry(
        self, row: Delivery, message: str, now: datetime, report: TickReport, at_least: float = 0
    ) -> None:
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
            sent_at=None,
            cost_usd=None,
            due_at=now + timedelta(seconds=max(delay, at_least)),
        )
        report.retrying.append((row.post_id, row.destination, message))

    async def _fail(
        self, row: Delivery, now: datetime, state: str, reason: str, report: TickReport
    ) -> None:
        await self._write(repo.force_delivery_state, row.id, now, state=state, last_error=reason)
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
        await self._notifier.alert(text)


def _is_lock(exc: OperationalError) -> bool:
    text = str(exc.orig).lower()
    return "locked" in text or "busy" in text or "lock timeout" in text
