"""Queue use cases shared by the CLI and the Telegram maintainer commands."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.config import ScheduleSettings, TwitterSettings
from bot.domain import planning
from bot.domain.costs import CostEstimate, monthly_estimate, non_arxiv_share
from bot.domain.papers import normalize_url, paper_identity
from bot.domain.planning import Candidate, QueueEditError
from bot.domain.slots import (
    SlotRule,
    WeeklyRule,
    iter_slots,
    next_slots,
    parse_slot_rule,
    parse_weekly_rule,
)
from bot.errors import DigestbotError
from bot.services import pauses
from bot.services import slots as slot_store
from bot.services.audit import Actor, AuditEntry, entry, resolve
from bot.store import audit as audit_repo
from bot.store import queue as repo
from bot.store.models import Issue, Item, Paper, Post

PAUSED_KEY = "queue:paused"
PROBE_KEY = "probe:telegram"  # the dispatcher probes Telegram one send at a time
MAX_X_WEIGHT = 280
MAX_TEXT_CHARS = 4000  # beyond this no text fits in a post, whatever its URLs weigh


class QueueError(DigestbotError, ValueError):
    """A queue edit that cannot be done; the message says why."""


@dataclass(frozen=True, slots=True)
class PostView:
    id: int
    kind: str
    paper: str | None
    issue: str | None
    text: str
    title: str | None
    url: str | None
    slot: datetime | None
    state: str
    deliveries: tuple[tuple[str, str], ...] = ()
    pick: bool = False  # a pick of its issue
    x_weight: int | None = None  # weighted length of the X text with its link (papers)


@dataclass(frozen=True, slots=True)
class QueueView:
    """One page of the open posts (soonest first); ``total`` open posts in all, ``sent`` posts
    delivered to at least one destination so far."""

    paused: bool
    posts: list[PostView]
    cost: CostEstimate
    total: int = 0
    sent: int = 0


@dataclass(frozen=True, slots=True)
class UndoResult:
    undone: AuditEntry  # the change that was reverted
    message: str


@dataclass(frozen=True, slots=True)
class SlotsView:
    times: list[str]
    days: list[str]
    timezone: str
    overridden: bool  # set by a maintainer (stored in the database), not the config
    upcoming: list[datetime]  # the next slot instants (UTC)


@dataclass(slots=True)
class EnqueueReport:
    papers: list[int] = field(default_factory=list)  # new post ids
    digests: list[int] = field(default_factory=list)
    already_known: int = 0
    without_link: int = 0


async def _dropped_paper_ids(session: AsyncSession) -> set[str]:
    """Paper identities with a cancelled paper post (dropped from the queue, or skipped)."""
    rows = await session.scalars(
        select(Paper.identity)
        .join(Post, Post.paper_id == Paper.id)
        .where(Post.kind == "paper", Post.state == "cancelled")
    )
    return set(rows)


def slot_rule(schedule: ScheduleSettings) -> SlotRule:
    return parse_slot_rule(schedule.slots, schedule.days, schedule.timezone)


def weekly_rule(schedule: ScheduleSettings) -> WeeklyRule:
    return parse_weekly_rule(schedule.weekly_day, schedule.weekly_time, schedule.timezone)


class QueueService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        schedule: ScheduleSettings,
        twitter: TwitterSettings,
        rng: random.Random | None = None,
        *,
        real_clock: Clock | None = None,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._real = real_clock or clock
        self._schedule = schedule
        self._twitter = twitter
        self._rule = slot_rule(schedule)  # the config's; a stored override wins (slots.py)
        self._weekly = weekly_rule(schedule)
        self._rng = rng or random.Random()

    # --- reading ---------------------------------------------------------------------------

    async def view(self, limit: int | None = None, offset: int = 0) -> QueueView:
        """Open posts from ``offset`` (soonest first), at most ``limit`` (all when None),
        loaded with a LIMIT plus counts."""
        offset = max(0, offset)
        async with self._sessions() as session:
            paused = await repo.get_state(session, PAUSED_KEY) == "1"
            if offset:
                posts = await repo.open_posts_window(session, limit, offset)
            else:
                posts = await repo.open_posts_page(session, limit)
            whole = not offset and (limit is None or len(posts) < limit)
            total = len(posts) if whole else await repo.count_open_posts(session)
            sent = await repo.count_sent_posts(session)
            keys = await _issue_keys(session, posts)
            picks = await repo.picked_items(session, {p.item_id for p in posts if p.item_id})
            rule = await slot_store.current_slot_rule(session, self._schedule)
            views = [self._view(p, keys, picks) for p in posts]
        share = non_arxiv_share(v.paper for v in views if v.kind == "paper")
        return QueueView(paused, views, self.cost_estimate(share, rule), total, sent)

    def _view(self, post: Post, keys: dict[int, str], picks: set[int]) -> PostView:
        base = _view(post, keys)
        weight = None
        if post.kind == "paper":
            weight = self.x_weight(post.text, post.url, base.paper)
        return PostView(
            id=base.id,
            kind=base.kind,
            paper=base.paper,
            issue=base.issue,
            text=base.text,
            title=base.title,
            url=base.url,
            slot=base.slot,
            state=base.state,
            deliveries=base.deliveries,
            pick=post.item_id in picks,
            x_weight=weight,
        )

    def cost_estimate(
        self, non_arxiv: float | None = None, rule: SlotRule | None = None
    ) -> CostEstimate:
        """``non_arxiv``: the share of queued papers without an arXiv id (their X posts follow
        ``twitter.link_fallback``); unknown: the dearer case is assumed. ``rule``: the slots in
        force (default: the config's)."""
        tw = self._twitter
        rule = rule or self._rule
        return monthly_estimate(
            slots_per_day=len(rule.times),
            days_per_week=len(rule.days),
            daily_cap=tw.daily_cap,
            link=tw.link,
            plain=tw.cost_per_post_usd,
            with_url=tw.cost_per_post_with_url_usd,
            budget=tw.monthly_budget_usd,
            link_fallback=tw.link_fallback,
            non_arxiv=non_arxiv,
        )

    # --- enqueueing ------------------------------------------------------------------------

    async def enqueue_issues(
        self,
        keys: Sequence[str],
        *,
        include_unlinked: bool = False,
        papers: bool = True,
        digests: bool = True,
        actor: Actor | None = None,
        skip_dropped: bool = False,
    ) -> EnqueueReport:
        """One post per new paper (picks first, sections interleaved) and one digest per issue;
        ``papers``/``digests`` False leaves that part out. ``skip_dropped``: a paper that ever
        had a post, even one the maintainer dropped (cancelled), is not new (the feed worker
        re-reading an edited issue must not bring dropped papers back)."""
        report = EnqueueReport()
        now = self._clock()
        async with self._sessions.begin() as session:
            await repo.take_lock(session, "queue", now)
            rows = _one_language(await repo.items_of_issues(session, keys))
            known = await repo.live_paper_ids(session)
            if skip_dropped:
                known |= await _dropped_paper_ids(session)
            cands = [
                Candidate(
                    paper=item.paper.identity if item.paper else None,
                    section=item.section,  # type: ignore[arg-type]
                    pick=item.pick,
                    position=item.position,
                    issue_key=key,
                    item_ref=item,
                )
                for item, key in rows
            ]
            ordered = planning.order_candidates(
                cands, known_papers=known, include_unlinked=include_unlinked
            )
            report.already_known = sum(1 for c in cands if c.paper in known)
            report.without_link = sum(1 for c in cands if c.paper is None)
            rank = await repo.max_rank(session)
            for cand in ordered if papers else ():
                item = cand.item_ref
                rank += 1
                post = await _new_post(
                    session,
                    now,
                    kind="paper",
                    paper_id=item.paper_id,
                    issue_id=item.issue_id,
                    item_id=item.id,
                    text=item.headline,
                    title=item.title,
                    url=item.url,
                    rank=rank,
                )
                report.papers.append(post.id)
            if digests:
                report.digests = await self._plan_digests(session, keys, now)
            await self._reslot(session, now)
            if report.papers or report.digests:
                await self._audit(
                    session,
                    actor,
                    "enqueue",
                    None,
                    None,
                    {"issues": list(keys), "posts": report.papers + report.digests},
                )
        return report

    async def _plan_digests(
        self, session: AsyncSession, keys: Sequence[str], now: datetime
    ) -> list[int]:
        """One announcement per issue key, whatever its languages: the link of the language
        imported first; none when any language of the key is already announced or queued."""
        issues = await repo.issues_by_key(session, keys)
        have = await repo.issues_with_digest(session, [i.id for i in issues])
        announced = await repo.digest_urls(session, [i.url for i in issues if i.url])
        by_key: dict[str, list[Issue]] = {}
        for found in issues:
            by_key.setdefault(found.key, []).append(found)
        taken = {p.slot for p in await repo.queued_digests(session) if p.slot}
        created = []
        for languages in sorted(by_key.values(), key=lambda s: (s[0].start_date, s[0].kind)):
            if any(i.id in have or i.url in announced for i in languages):
                continue
            issue = next((i for i in languages if i.url), None)
            if issue is None:
                continue
            slot = self._weekly.next_on_or_after(now)
            while slot in taken:  # one digest per weekly slot: take the next free week
                slot = self._weekly.next_on_or_after(slot + timedelta(seconds=1))
            taken.add(slot)
            post = await _new_post(
                session,
                now,
                kind="digest",
                issue_id=issue.id,
                text=issue.title,
                title=issue.title,
                url=issue.url,
                rank=0,
                slot=slot,
            )
            created.append(post.id)
        return created

    async def _reslot(self, session: AsyncSession, now: datetime) -> None:
        """Queued paper posts take the next slots after ``now`` in rank order (the slots in
        force: a maintainer's stored override, else the config)."""
        posts = await repo.queued_papers(session)
        if not posts:
            return
        rule = await slot_store.current_slot_rule(session, self._schedule)
        slots = next_slots(rule, now, len(posts))
        for rank, (post, slot) in enumerate(zip(posts, slots, strict=True), 1):
            if post.slot != slot or post.rank != rank:
                post.slot, post.rank, post.updated_at = slot, rank, now

    async def reslot(self, now: datetime | None = None) -> None:
        moment = now or self._clock()
        async with self._sessions.begin() as session:
            await repo.take_lock(session, "queue", moment)
            await self._reslot(session, moment)

    # --- editing ---------------------------------------------------------------------------

    def x_weight(self, text: str, url: str | None, paper: str | None) -> int:
        """The weighted length of ``text`` on X with the link the post will carry."""
        from bot.domain.x_text import drip_link_text, fallback_link_text, weighted_length

        suffix = drip_link_text(self._twitter.link, url, paper)
        if not suffix and self._twitter.link == "arxiv_id":  # no arXiv id: the fallback's text
            suffix = fallback_link_text(self._twitter.link_fallback, url=url, title=None)
        return weighted_length(f"{text} {suffix}" if suffix else text)

    def check_text(self, text: str, url: str | None, paper: str | None) -> str:
        cleaned = " ".join(text.split())
        if not cleaned:
            raise QueueError("the text is empty")
        if len(cleaned) > MAX_TEXT_CHARS:  # never hand megabytes to the twitter-text regexes
            raise QueueError(
                f"text too long for X: {len(cleaned):,} characters (at most {MAX_X_WEIGHT} "
                "weighted characters)"
            )
        weight = self.x_weight(cleaned, url, paper)
        if weight > MAX_X_WEIGHT:
            raise QueueError(
                f"text too long for X: {weight} weighted characters with the link "
                f"(at most {MAX_X_WEIGHT}; CJK characters count 2, URLs 23)"
            )
        return cleaned

    async def add(self, url: str, text: str, *, actor: Actor | None = None) -> int:
        normalized = normalize_url(url.strip())
        identity = paper_identity(url.strip()) if normalized else None
        if normalized is None or identity is None:
            raise QueueError(f"not a usable http(s) URL: {_clip(url)!r}")
        cleaned = self.check_text(text, normalized, identity)
        now = self._clock()
        async with self._sessions.begin() as session:
            await repo.take_lock(session, "queue", now)
            if identity in await repo.live_paper_ids(session):
                raise QueueError(f"{identity} is already queued or posted")
            paper = await repo.paper_by_identity(session, identity)
            if paper is None:
                paper = Paper(identity=identity, url=normalized, first_seen_at=now)
                session.add(paper)
                await session.flush()
            try:
                post = await _new_post(
                    session,
                    now,
                    kind="paper",
                    paper_id=paper.id,
                    text=cleaned,
                    url=normalized,
                    rank=await repo.max_rank(session) + 1,
                )
            except IntegrityError:
                raise QueueError(f"{identity} is already queued or posted") from None
            await self._reslot(session, now)
            after = {"text": cleaned, "url": normalized, "paper": identity}
            await self._audit(session, actor, "add", post.id, None, after)
            return post.id

    async def edit(self, post_id: int, text: str, *, actor: Actor | None = None) -> None:
        now = self._clock()
        async with self._sessions.begin() as session:
            await repo.take_lock(session, "queue", now)
            post = await self._open_post(session, post_id, editable=True)
            identity = post.paper.identity if post.paper else None
            before = post.text
            post.text = (
                self.check_text(text, post.url, identity)
                if post.kind == "paper"
                else (" ".join(text.split())[:MAX_TEXT_CHARS] or post.text)
            )
            post.updated_at = now
            if post.text != before:
                await self._audit(
                    session, actor, "edit", post.id, {"text": before}, {"text": post.text}
                )

    async def remove(self, post_id: int, *, actor: Actor | None = None) -> None:
        now = self._clock()
        async with self._sessions.begin() as session:
            await repo.take_lock(session, "queue", now)
            post = await self._open_post(session, post_id, editable=True)
            order = await _order(session)
            post.state, post.updated_at = "cancelled", now
            await session.flush()
            await self._reslot(session, now)
            before = {"state": "queued", "order": order, "slot": _iso(post.slot)}
            await self._audit(session, actor, "drop", post.id, before, {"state": "cancelled"})

    async def move(self, post_id: int, position: int, *, actor: Actor | None = None) -> None:
        await self._reorder(
            "move", lambda ids: planning.reorder(ids, post_id, position), post_id, actor
        )

    async def top(self, post_id: int, *, actor: Actor | None = None) -> None:
        await self._reorder("top", lambda ids: planning.to_top(ids, post_id), post_id, actor)

    async def up(self, post_id: int, *, actor: Actor | None = None) -> None:
        """One position earlier (the first post stays first)."""

        def how(ids: list[int]) -> list[int]:
            at = ids.index(post_id) + 1 if post_id in ids else 1
            return planning.reorder(ids, post_id, max(1, at - 1))

        await self._reorder("up", how, post_id, actor)

    async def down(self, post_id: int, *, actor: Actor | None = None) -> None:
        """One position later (the last post stays last)."""

        def how(ids: list[int]) -> list[int]:
            at = ids.index(post_id) + 1 if post_id in ids else 1
            return planning.reorder(ids, post_id, min(len(ids), at + 1))

        await self._reorder("down", how, post_id, actor)

    async def shuffle(self, *, actor: Actor | None = None) -> None:
        await self._reorder("shuffle", lambda ids: planning.shuffle(ids, self._rng), None, actor)

    async def _reorder(
        self,
        verb: str,
        how: Callable[[list[int]], list[int]],
        post_id: int | None,
        actor: Actor | None,
    ) -> None:
        now = self._clock()
        async with self._sessions.begin() as session:
            await repo.take_lock(session, "queue", now)
            if post_id is not None:
                post = await self._open_post(session, post_id, editable=True)
                if post.kind != "paper":
                    raise QueueError(f"post {post_id} is a digest announcement: it keeps its slot")
            posts = await repo.queued_papers(session)
            before = [p.id for p in posts]
            try:
                order = how(before)
            except QueueEditError as exc:
                raise QueueError(str(exc)) from None
            by_id = {p.id: p for p in posts}
            for rank, pid in enumerate(order, 1):
                by_id[pid].rank = rank
            await session.flush()
            await self._reslot(session, now)
            if order == before:
                return  # nothing changed: nothing to record or undo
            old: dict[str, Any] = {"order": before}
            new: dict[str, Any] = {"order": order}
            if post_id is not None:
                old["position"] = before.index(post_id) + 1
                new["position"] = order.index(post_id) + 1
            await self._audit(session, actor, verb, post_id, old, new)

    async def set_paused(self, paused: bool, *, actor: Actor | None = None) -> None:
        """``pause`` stops releasing posts; ``resume`` releases them again and also clears
        every platform pause (429 waits, rejected credentials): what waited is due now."""
        now = self._clock()
        async with self._sessions.begin() as session:
            was = await repo.get_state(session, PAUSED_KEY) == "1"
            await repo.set_state(session, PAUSED_KEY, "1" if paused else None, now)
            if not paused:
                await self._reslot(session, now)
                real = self._real()
                await pauses.clear_pauses(session, real)
                await repo.set_state(session, PROBE_KEY, None, real)
                await repo.release_waits(session, real)
            verb = "pause" if paused else "resume"
            await self._audit(session, actor, verb, None, {"paused": was}, {"paused": paused})

    async def resume_platform(self, platform: str, *, actor: Actor | None = None) -> None:
        """Clear one platform's pause (a 429 wait, rejected credentials): its waiting
        deliveries are tried at once. The queue's own pause is left as it is."""
        if platform not in pauses.PLATFORMS:
            raise QueueError(
                f"unknown platform {_clip(platform)!r}: one of {', '.join(pauses.PLATFORMS)}"
            )
        real = self._real()
        async with self._sessions.begin() as session:
            key = pauses.PREFIX + platform
            value = await repo.get_state(session, key)
            await repo.set_state(session, key, None, real)
            if platform == "telegram":
                await repo.set_state(session, PROBE_KEY, None, real)
            await repo.release_platform_waits(session, platform, real)
            await self._audit(
                session, actor, "resume", None, {"pause": value}, {"platform": platform}
            )

    async def make_due(self, post_id: int, *, actor: Actor | None = None) -> None:
        """``now ID``: the post becomes due at once (the dispatcher sends it next). For a post
        that was sent in part (parked, dead or failed deliveries), the unsent ones are retried."""
        now = self._clock()
        async with self._sessions.begin() as session:
            await repo.take_lock(session, "queue", now)
            post = await repo.get_post(session, post_id)
            if post is not None and post.state in ("sending", "failed", "sent"):
                if await repo.retry_unsent(session, post.id, now):
                    before: dict[str, Any] = {"state": post.state}
                    post.state, post.updated_at = "sending", now
                    after = {"state": "sending"}
                    await self._audit(session, actor, "retry", post.id, before, after)
                    return
                if post.state != "sent":
                    raise QueueError(f"post {post_id} has nothing left to send")
            post = await self._open_post(session, post_id, editable=True)
            before = {"slot": _iso(post.slot), "order": await _order(session)}
            post.slot, post.rank, post.updated_at = now, 0, now
            await session.flush()
            others = [p for p in await repo.queued_papers(session) if p.id != post.id]
            for rank, other in enumerate(others, 1):
                other.rank = rank
            rule = await slot_store.current_slot_rule(session, self._schedule)
            slots = next_slots(rule, now, len(others)) if others else []
            for other, slot in zip(others, slots, strict=True):
                other.slot = slot
            await self._audit(session, actor, "now", post.id, before, {"slot": _iso(now)})

    async def reschedule(self, post_id: int, *, actor: Actor | None = None) -> datetime:
        """A post sent in part (parked, dead or failed deliveries): those go back to pending,
        due at the next posting slot no queued post holds; returns that time."""
        now = self._clock()
        async with self._sessions.begin() as session:
            await repo.take_lock(session, "queue", now)
            post = await self._unsent_post(session, post_id)
            rule = await slot_store.current_slot_rule(session, self._schedule)
            taken = await repo.taken_slots(session)
            due = next(s for s in iter_slots(rule, now) if s not in taken)
            if not await repo.reschedule_unsent(session, post.id, due, now):
                raise QueueError(f"post {post_id} has nothing left to send")
            before = {"state": post.state}
            post.state, post.updated_at = "sending", now
            await self._audit(session, actor, "reschedule", post.id, before, {"due": _iso(due)})
            return due

    async def skip(self, post_id: int, *, actor: Actor | None = None) -> int:
        """A post sent in part: its unsent deliveries (parked, dead, failed, pending) are given
        up; returns how many. The post then counts as sent when any delivery was sent."""
        now = self._clock()
        async with self._sessions.begin() as session:
            await repo.take_lock(session, "queue", now)
            post = await self._unsent_post(session, post_id)
            before = {"state": post.state}
            count = await repo.skip_unsent(session, post.id, now, "skipped by the maintainer")
            if not count:
                raise QueueError(f"post {post_id} has nothing left to send")
            if post.state == "failed":
                post.state = "sending"  # settled again below, from its deliveries
            await session.flush()
            await repo.settle_posts(session, now)
            await self._audit(session, actor, "skip", post.id, before, {"skipped": count})
            return count

    async def _unsent_post(self, session: AsyncSession, post_id: int) -> Post:
        post = await repo.get_post(session, post_id)
        if post is None or post.state == "cancelled":
            raise QueueError(f"no post with id {post_id}")
        if post.state == "queued":
            raise QueueError(
                f"post {post_id} is still queued: nothing was sent yet (drop or move it instead)"
            )
        if post.state == "sent" and not any(
            d.state in ("parked", "dead", "failed", "pending") for d in post.deliveries
        ):
            raise QueueError(f"post {post_id} has nothing left to send")
        return post

    # --- slots -----------------------------------------------------------------------------

    async def slots(self, upcoming: int = 5) -> SlotsView:
        async with self._sessions() as session:
            current = await slot_store.current_slots(session, self._schedule)
        return self._slots_view(current, upcoming)

    def _slots_view(self, current: slot_store.Slots, upcoming: int = 5) -> SlotsView:
        rule = parse_slot_rule(current.times, current.days, self._schedule.timezone)
        return SlotsView(
            current.times,
            current.days,
            self._schedule.timezone,
            current.overridden,
            next_slots(rule, self._clock(), upcoming),
        )

    async def set_slots(
        self,
        times: Sequence[str],
        days: Sequence[str] | None = None,
        *,
        actor: Actor | None = None,
    ) -> SlotsView:
        """Posting times (``HH:MM`` in ``schedule.timezone``) and days (``mon``..``sun``; None:
        keep the current days), stored in the database: in force at once, for every process,
        across restarts. Queued papers take the new slots."""
        now = self._clock()
        async with self._sessions.begin() as session:
            await repo.take_lock(session, "queue", now)
            old = await slot_store.current_slots(session, self._schedule)
            new_times, new_days = slot_store.normalize(times, old.days if days is None else days)
            await slot_store.store_slots(session, new_times, new_days, now)
            await self._reslot(session, now)
            new = slot_store.Slots(new_times, new_days, overridden=True)
            if new != old:
                await self._audit(session, actor, "slots", None, old.as_json(), new.as_json())
        return self._slots_view(new)

    async def reset_slots(self, *, actor: Actor | None = None) -> SlotsView:
        """Back to the config's slots (the stored override is removed)."""
        now = self._clock()
        async with self._sessions.begin() as session:
            await repo.take_lock(session, "queue", now)
            old = await slot_store.current_slots(session, self._schedule)
            await slot_store.store_slots(session, None, None, now)
            await self._reslot(session, now)
            new = slot_store.config_slots(self._schedule)
            if old.overridden:
                await self._audit(session, actor, "slots", None, old.as_json(), new.as_json())
        return self._slots_view(new)

    # --- audit and undo --------------------------------------------------------------------

    async def _audit(
        self,
        session: AsyncSession,
        actor: Actor | None,
        verb: str,
        post_id: int | None,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
    ) -> int:
        who = resolve(actor)
        row = await audit_repo.record(
            session,
            at=self._real(),
            actor=who.name,
            actor_id=who.user_id,
            verb=verb,
            post_id=post_id,
            before=before,
            after=after,
        )
        return row.id

    async def undo(self, *, actor: Actor | None = None) -> UndoResult:
        """Revert the last queue change that was not undone yet (from its before-state); the
        undo is recorded too. A post sent since cannot be taken back: QueueError says so."""
        now = self._clock()
        async with self._sessions.begin() as session:
            await repo.take_lock(session, "queue", now)
            row = await audit_repo.last_undoable(session)
            if row is None:
                raise QueueError("nothing to undo: no queue change is recorded")
            last = entry(row)
            note = await self._revert(session, last, now)
            await self._reslot(session, now)
            undo_id = await self._audit(
                session,
                actor,
                "undo",
                last.post_id,
                None,
                {"undoes": last.id, "verb": last.verb},
            )
            await audit_repo.mark_undone(session, last.id, undo_id)
        what = f"{last.verb} of post {last.post_id}" if last.post_id else last.verb
        message = f"undid {what} (#{last.id}, by {last.who})" + (f"; {note}" if note else "")
        return UndoResult(last, message)

    async def _revert(self, session: AsyncSession, last: AuditEntry, now: datetime) -> str:
        """Put back what ``last`` changed; returns a note for the message (may be empty)."""
        before, after = last.before or {}, last.after or {}
        verb = last.verb
        if verb == "enqueue":
            return await self._cancel_created(session, list(after.get("posts", [])), now)
        if verb in ("pause", "resume") and "platform" in after:
            value = before.get("pause")
            if isinstance(value, str):
                await repo.set_state(session, pauses.PREFIX + str(after["platform"]), value, now)
            return ""
        if verb in ("pause", "resume"):
            paused = bool(before.get("paused"))
            await repo.set_state(session, PAUSED_KEY, "1" if paused else None, now)
            return "the queue is paused again" if paused else "the queue is running again"
        if verb == "slots":
            if before.get("overridden"):
                await slot_store.store_slots(
                    session, list(before["times"]), list(before["days"]), now
                )
            else:
                await slot_store.store_slots(session, None, None, now)
            return "slots " + ", ".join(before.get("times") or []) + " restored"
        if verb == "shuffle":
            await self._restore_order(session, list(before.get("order", [])))
            return ""
        post = await repo.get_post(session, last.post_id) if last.post_id is not None else None
        if post is None:
            raise QueueError(f"cannot undo {verb}: post {last.post_id} no longer exists")
        if verb == "drop":
            if post.state != "cancelled":
                raise QueueError(f"cannot undo drop: post {post.id} is {post.state} now")
            identity = post.paper.identity if post.paper else None
            if identity is not None and identity in await repo.live_paper_ids(session):
                raise QueueError(
                    f"cannot undo drop of post {post.id}: {identity} was queued again since"
                )
            post.state, post.updated_at = "queued", now
            if post.kind == "digest":
                post.slot = _parse_iso(before.get("slot")) or post.slot
            try:
                await session.flush()
            except IntegrityError:  # its paper or issue was queued again since
                raise QueueError(
                    f"cannot undo drop of post {post.id}: it was queued again since"
                ) from None
            await self._restore_order(session, list(before.get("order", [])))
            return ""
        self._require_unsent(post, verb)
        if verb == "add":
            post.state, post.updated_at = "cancelled", now
            await session.flush()
            return f"post {post.id} is no longer queued"
        if verb == "edit":
            post.text, post.updated_at = str(before.get("text", post.text)), now
            return ""
        if verb == "now":
            if post.kind == "digest":
                post.slot = _parse_iso(before.get("slot")) or post.slot
            await self._restore_order(session, list(before.get("order", [])))
            post.updated_at = now
            return ""
        if verb in ("move", "top", "up", "down"):
            await self._restore_order(session, list(before.get("order", [])))
            return ""
        raise QueueError(f"cannot undo {verb}")

    @staticmethod
    def _require_unsent(post: Post, verb: str) -> None:
        if post.state in ("sending", "sent", "failed"):
            raise QueueError(
                f"cannot undo {verb}: post {post.id} has been sent since ({post.state})"
            )

    async def _restore_order(self, session: AsyncSession, order: list[int]) -> None:
        """Queued papers take ``order`` back (posts no longer queued are skipped; posts queued
        since keep their place after them)."""
        posts = await repo.queued_papers(session)
        wanted = {pid: i for i, pid in enumerate(order)}
        ranked = sorted(posts, key=lambda p: (p.id not in wanted, wanted.get(p.id, 0), p.rank))
        for rank, post in enumerate(ranked, 1):
            post.rank = rank
        await session.flush()

    async def _cancel_created(self, session: AsyncSession, ids: list[int], now: datetime) -> str:
        gone = 0
        sent: list[int] = []
        for pid in ids:
            post = await repo.get_post(session, int(pid))
            if post is None or post.state == "cancelled":
                continue
            if post.state == "queued":
                post.state, post.updated_at = "cancelled", now
                gone += 1
            else:
                sent.append(post.id)
        await session.flush()
        note = f"{gone} queued posts removed"
        if sent:
            note += f"; posts {', '.join(map(str, sent))} have been sent since and stay"
        return note

    async def _open_post(self, session: AsyncSession, post_id: int, *, editable: bool) -> Post:
        post = await repo.get_post(session, post_id)
        if post is None or post.state == "cancelled":
            raise QueueError(f"no post with id {post_id} in the queue")
        if editable and post.state != "queued":
            raise QueueError(f"post {post_id} is already {post.state}; it can no longer change")
        return post


def _clip(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _parse_iso(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


async def _order(session: AsyncSession) -> list[int]:
    return [p.id for p in await repo.queued_papers(session)]


def _one_language(rows: list[tuple[Item, str]]) -> list[tuple[Item, str]]:
    """Items of each key's language imported first (``rows`` come in that order), plus the
    papers only a translation has: a translated item is not a second post."""
    first: dict[str, int] = {}
    papers: dict[str, set[int]] = {}
    for item, key in rows:
        if first.setdefault(key, item.issue_id) == item.issue_id and item.paper_id is not None:
            papers.setdefault(key, set()).add(item.paper_id)
    return [
        (item, key)
        for item, key in rows
        if item.issue_id == first[key]
        or (item.paper_id is not None and item.paper_id not in papers.get(key, set()))
    ]


async def _new_post(session: AsyncSession, now: datetime, **fields: object) -> Post:
    post = Post(state="queued", created_at=now, updated_at=now, **fields)
    session.add(post)
    await session.flush()
    return post


async def _issue_keys(session: AsyncSession, posts: Sequence[Post]) -> dict[int, str]:
    return await repo.issue_keys(session, {p.issue_id for p in posts if p.issue_id is not None})


def _view(post: Post, keys: dict[int, str]) -> PostView:
    return PostView(
        id=post.id,
        kind=post.kind,
        paper=post.paper.identity if post.paper else None,
        issue=keys.get(post.issue_id) if post.issue_id else None,
        text=post.text,
        title=post.title,
        url=post.url,
        slot=post.slot,
        state=post.state,
        deliveries=tuple((d.destination, d.state) for d in post.deliveries),
    )
