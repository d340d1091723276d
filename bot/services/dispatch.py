"""The outbox dispatcher: releases due posts and works the delivery ledger.

Per delivery: claim (compare-and-set, committed) -> call the platform -> record the outcome
(committed at once). A claim whose lease runs out without an outcome is "outcome unknown":
X is resent (its duplicate-content answer proves an earlier success), Telegram is resent or
parked by setting. Every job here is idempotent: run it twice, from two processes, after a
crash: nothing is posted twice by us, nothing is lost.

Here: releasing posts (the audience of a broadcast is worked out then) and the deliveries sent
one at a time (X, the channel, groups, resends after an unknown outcome). Subscribers' private
chats are sent in batches by :mod:`bot.services.broadcast`; outcomes are recorded by
:mod:`bot.services.ledger`.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.config import Settings
from bot.domain.quiet import release_time
from bot.domain.slots import next_slots
from bot.publish.base import (
    Publisher,
    PublishError,
    RateLimited,
    Transient,
    Unauthorized,
)
from bot.publish.notify import Notifier
from bot.services import pauses
from bot.services.broadcast import LONG_BROADCAST, Broadcaster, show_broadcasts
from bot.services.compose import compose_post
from bot.services.ledger import (
    DatabaseBusy,
    Ledger,
    Round,
    TickReport,
    is_lock,
    platform,
    subscriber_chat,
)
from bot.services.pace import TelegramPace, slot_book
from bot.services.queue import PAUSED_KEY, PROBE_KEY, weekly_rule
from bot.services.slots import current_slot_rule
from bot.store import queue as repo
from bot.store import subscribers as subscribers_repo
from bot.store.queue import LedgerRow

__all__ = [
    "LONG_BROADCAST",
    "DatabaseBusy",
    "Dispatcher",
    "TickReport",
    "platform",
    "subscriber_chat",
]

logger = logging.getLogger(__name__)
MAX_ROUNDS = 1000
GROUP_WAIT_SECONDS = 3.5  # a channel's next post this close is waited for within the tick
MAX_GROUP_WAITS = 400  # about 20 minutes of a channel backlog in one tick


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
        drain_groups: bool = False,
    ) -> None:
        """``clock`` is the run's view of time (``--now`` moves it); ``real_clock`` (default:
        ``clock``) tells a travelled run from a real one. ``publishers`` and ``destinations``
        are read live (a platform may connect later); ``waiting(platform)`` says why a
        configured platform cannot be used yet. ``drain_groups``: a channel backlog leaves
        within one tick at the channel's limit (a post every 3 s), the tick waiting for each
        next post (the long-running worker); otherwise one channel post per tick."""
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
        self._pace = TelegramPace(
            per_second=settings.telegram.messages_per_second,
            book=slot_book(settings.telegram, settings.redis_url),
        )
        self._notifier = notifier
        self._weekly = weekly_rule(settings.schedule)
        self._ledger = Ledger(sessions, sync_sessions, settings, notifier, rng or random.Random())
        self._budget = self._ledger.budget
        self._write = self._ledger.write
        self._stopping = False
        self._drain_groups = drain_groups
        self._paced = datetime.min.replace(tzinfo=UTC)  # the last slot this run waited for
        self._broadcaster = Broadcaster(
            self._ledger,
            sessions,
            clock,
            settings,
            publishers,
            notifier,
            self._pace,
            self._sleep,
            simulated=sleep is not None,
            stopping=lambda: self._stopping,
        )

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
            if not is_lock(exc):
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
        rule = await current_slot_rule(session, self._settings.schedule)  # /slots override
        for post, slot in zip(posts, next_slots(rule, now, len(posts)), strict=True):
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
        state = Round({p.platform for p in active}, probing=probing)
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
        if self._broadcast_ready(state):
            await self._broadcaster.run(now, report, state, horizon)
            if state.probing:  # an unknown outcome in the broadcast: one at a time from here
                await self._deliver_rounds(now, report, state, tried, horizon)
        if self._drain_groups:
            await self._drain_group_backlog(now, report, state, horizon)
        await show_broadcasts(self._sessions, self._notifier, state.broadcasts)

    async def _drain_group_backlog(
        self, now: datetime, report: TickReport, state: Round, horizon: repo.Horizon | None
    ) -> None:
        """A backlog for the channel (or a group) waits on its chat's limit (a message a
        second, 20 a minute): the tick waits for each next one when it is only moments away,
        so the backlog leaves at the limit, not one post per tick."""
        for _ in range(MAX_GROUP_WAITS):
            if self._stopping or "telegram" in state.paused:
                return
            moment = max(now, self._clock(), self._paced)
            async with self._sessions() as session:
                due = await repo.soonest_group_wait(session, moment)
            if due is None or (due - moment).total_seconds() > GROUP_WAIT_SECONDS:
                return
            await self._sleep((due - moment).total_seconds())
            self._paced = max(self._paced, due)
            await self._deliver_rounds(due, report, state, set(), horizon)

    def _broadcast_ready(self, state: Round) -> bool:
        return not (self._stopping or state.probing or "telegram" in state.paused)

    async def _deliver_rounds(
        self,
        now: datetime,
        report: TickReport,
        state: Round,
        tried: set[int],
        horizon: repo.Horizon | None,
    ) -> None:
        for _ in range(MAX_ROUNDS):
            if self._stopping:
                return
            async with self._sessions() as session:
                found = await repo.due_deliveries(
                    session,
                    now,
                    skip_prefixes=sorted(state.paused),
                    horizon=horizon,
                    skip_private=not state.probing,  # the broadcaster sends those in batches
                )
            rows = [LedgerRow.of(r) for r in found if r.id not in tried]
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
        row: LedgerRow,
        now: datetime,
        report: TickReport,
        state: Round,
        horizon: repo.Horizon | None = None,
    ) -> None:
        # a tick can take long (rate limits, many deliveries): leases and sent times use the
        # clock at this delivery, never the tick's start, so no lease is born expired
        now = max(now, self._clock(), self._paced)
        name = platform(row.destination)
        publisher = self._publishers.get(name)
        if publisher is None:
            await self._ledger.fail(row, now, "dead", f"no publisher for {row.destination}", report)
            return
        if row.post_id not in state.composed:
            async with self._sessions() as session:
                state.composed[row.post_id] = await compose_post(
                    session, row.post_id, self._settings
                )
        outgoing = state.composed[row.post_id]
        if outgoing is None:
            await self._ledger.fail(row, now, "cancelled", "the post no longer exists", report)
            return
        if name == "x" and outgoing.x_text is None:
            reason = "not posted to X (no arXiv id, twitter.link_fallback = skip)"
            await self._ledger.fail(row, now, "cancelled", reason, report)
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
            claimed_at = await self._claim_telegram(row, now, report, horizon)
            if claimed_at is None:
                return  # another worker has it, or this chat must wait
            now = claimed_at  # the overall pace may have waited: stamps must be exact
        if (
            row.state == "sending"
            and name == "telegram"
            and not await self._ledger.may_resend(row, now, report)
        ):
            return
        try:
            result = await publisher.send(row.destination, outgoing)
        except PublishError as exc:
            if isinstance(exc, RateLimited | Unauthorized):
                state.paused.add(name)
            if isinstance(exc, Transient) and exc.maybe_sent and name == "telegram":
                state.probing = state.probed = True
            await self._ledger.on_error(row, exc, now, report)
            return
        except Exception as exc:  # an adapter bug must not lose the post: retry, then dead-letter
            logger.exception("publisher %s crashed on post %s", name, row.post_id)
            await self._ledger.on_error(row, Transient(f"{type(exc).__name__}: {exc}"), now, report)
            return
        await self._ledger.on_sent(row, outgoing, result, now, report)
        if subscriber_chat(row.destination) is not None:
            state.broadcasts.add(row.post_id)
        if name == "telegram" and state.probing:
            state.probing = state.probed = False
            await self._ledger.set_probe(None, now)
            logger.info("Telegram confirmed a send: back to normal pace")

    async def _claim_x(
        self,
        row: LedgerRow,
        x_text: str,
        lease: datetime,
        now: datetime,
        report: TickReport,
        state: Round,
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
            # the post that met the cap: Retry, Reschedule, Edit, Skip under the alert
            await self._notifier.alert(verdict.reason, post_id=row.post_id, kind="budget")
        return False

    async def _claim_telegram(
        self,
        row: LedgerRow,
        now: datetime,
        report: TickReport,
        horizon: repo.Horizon | None,
    ) -> datetime | None:
        """Claim under Telegram's limits, kept in the database for every process: the delivery
        is granted a slot, and this run waits for it (briefly, on the injected sleep); one
        chat's limit delays only that chat's delivery. Returns the slot, None when not
        claimed."""
        lease = float(self._delivery.lease_seconds)
        result = await self._write(self._pace.reserve, now, lease, rows=[row], horizon=horizon)
        for waiting, due in result.waiting:
            wait = f"pacing {(due - now).total_seconds():.1f}s"
            report.retrying.append((waiting.post_id, waiting.destination, wait))
        if not result.claimed:
            return None  # another worker has it, or this chat must wait
        [(_, at)] = result.claimed
        if at > now:
            await self._sleep((at - now).total_seconds())
            self._paced = max(self._paced, at)  # that much time has passed (a frozen clock too)
        return at
