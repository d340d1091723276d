"""Queue use cases shared by the CLI and the Telegram maintainer commands."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

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
    next_slots,
    parse_slot_rule,
    parse_weekly_rule,
)
from bot.errors import DigestbotError
from bot.services import pauses
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


@dataclass(frozen=True, slots=True)
class QueueView:
    """One page of the open posts (soonest first); ``total`` open posts in all, ``sent`` posts
    delivered to at least one destination so far."""

    paused: bool
    posts: list[PostView]
    cost: CostEstimate
    total: int = 0
    sent: int = 0


@dataclass(slots=True)
class EnqueueReport:
    papers: list[int] = field(default_factory=list)  # new post ids
    digests: list[int] = field(default_factory=list)
    already_known: int = 0
    without_link: int = 0


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
        self._rule = slot_rule(schedule)
        self._weekly = weekly_rule(schedule)
        self._rng = rng or random.Random()

    # --- reading ---------------------------------------------------------------------------

    async def view(self, limit: int | None = None) -> QueueView:
        """The first ``limit`` open posts (all when None), loaded with a LIMIT plus counts."""
        async with self._sessions() as session:
            paused = await repo.get_state(session, PAUSED_KEY) == "1"
            posts = await repo.open_posts_page(session, limit)
            whole = limit is None or len(posts) < limit
            total = len(posts) if whole else await repo.count_open_posts(session)
            sent = await repo.count_sent_posts(session)
            keys = await _issue_keys(session, posts)
            views = [_view(p, keys) for p in posts]
        share = non_arxiv_share(v.paper for v in views if v.kind == "paper")
        return QueueView(paused, views, self.cost_estimate(share), total, sent)

    def cost_estimate(self, non_arxiv: float | None = None) -> CostEstimate:
        """``non_arxiv``: the share of queued papers without an arXiv id (their X posts follow
        ``twitter.link_fallback``); unknown: the dearer case is assumed."""
        tw = self._twitter
        return monthly_estimate(
            slots_per_day=len(self._rule.times),
            days_per_week=len(self._rule.days),
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
        self, keys: Sequence[str], *, include_unlinked: bool = False
    ) -> EnqueueReport:
        """One post per new paper (picks first, sections interleaved) and one digest per issue."""
        report = EnqueueReport()
        now = self._clock()
        async with self._sessions.begin() as session:
            await repo.take_lock(session, "queue", now)
            rows = _one_language(await repo.items_of_issues(session, keys))
            known = await repo.live_paper_ids(session)
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
            for cand in ordered:
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
            report.digests = await self._plan_digests(session, keys, now)
            await self._reslot(session, now)
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
        """Queued paper posts take the next slots after ``now`` in rank order."""
        posts = await repo.queued_papers(session)
        slots = next_slots(self._rule, now, len(posts)) if posts else []
        for rank, (post, slot) in enumerate(zip(posts, slots, strict=True), 1):
            if post.slot != slot or post.rank != rank:
                post.slot, post.rank, post.updated_at = slot, rank, now

    async def reslot(self, now: datetime | None = None) -> None:
        moment = now or self._clock()
        async with self._sessions.begin() as session:
            await repo.take_lock(session, "queue", moment)
            await self._reslot(session, moment)

    # --- editing ---------------------------------------------------------------------------

    def check_text(self, text: str, url: str | None, paper: str | None) -> str:
        cleaned = " ".join(text.split())
        if not cleaned:
            raise QueueError("the text is empty")
        if len(cleaned) > MAX_TEXT_CHARS:  # never hand megabytes to the twitter-text regexes
            raise QueueError(
                f"text too long for X: {len(cleaned):,} characters (at most {MAX_X_WEIGHT} "
                "weighted characters)"
            )
        from bot.domain.x_text import drip_link_text, fallback_link_text, weighted_length

        suffix = drip_link_text(self._twitter.link, url, paper)
        if not suffix and self._twitter.link == "arxiv_id":  # no arXiv id: the fallback's text
            suffix = fallback_link_text(self._twitter.link_fallback, url=url, title=None)
        weight = weighted_length(f"{cleaned} {suffix}" if suffix else cleaned)
        if weight > MAX_X_WEIGHT:
            raise QueueError(
                f"text too long for X: {weight} weighted characters with the link "
                f"(at most {MAX_X_WEIGHT}; CJK characters count 2, URLs 23)"
            )
        return cleaned

    async def add(self, url: str, text: str) -> int:
        normalized = normalize_url(url.strip())
        identity = paper_identity(url.strip()) if normalized else None
        if normalized is None or identity is None:
            raise QueueError(f"not a usable http(s) URL: {url!r}")
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
            return post.id

    async def edit(self, post_id: int, text: str) -> None:
        now = self._clock()
        async with self._sessions.begin() as session:
            post = await self._open_post(session, post_id, editable=True)
            identity = post.paper.identity if post.paper else None
            post.text = (
                self.check_text(text, post.url, identity)
                if post.kind == "paper"
                else (" ".join(text.split()) or post.text)
            )
            post.updated_at = now

    async def remove(self, post_id: int) -> None:
        now = self._clock()
        async with self._sessions.begin() as session:
            await repo.take_lock(session, "queue", now)
            post = await self._open_post(session, post_id, editable=True)
            post.state, post.updated_at = "cancelled", now
            await session.flush()
            await self._reslot(session, now)

    async def move(self, post_id: int, position: int) -> None:
        await self._reorder(lambda ids: planning.reorder(ids, post_id, position), post_id)

    async def top(self, post_id: int) -> None:
        await self._reorder(lambda ids: planning.to_top(ids, post_id), post_id)

    async def shuffle(self) -> None:
        await self._reorder(lambda ids: planning.shuffle(ids, self._rng), None)

    async def _reorder(self, how: Callable[[list[int]], list[int]], post_id: int | None) -> None:
        now = self._clock()
        async with self._sessions.begin() as session:
            await repo.take_lock(session, "queue", now)
            if post_id is not None:
                post = await self._open_post(session, post_id, editable=True)
                if post.kind != "paper":
                    raise QueueError(f"post {post_id} is a digest announcement: it keeps its slot")
            posts = await repo.queued_papers(session)
            try:
                order = how([p.id for p in posts])
            except QueueEditError as exc:
                raise QueueError(str(exc)) from None
            by_id = {p.id: p for p in posts}
            for rank, pid in enumerate(order, 1):
                by_id[pid].rank = rank
            await session.flush()
            await self._reslot(session, now)

    async def set_paused(self, paused: bool) -> None:
        """``pause`` stops releasing posts; ``resume`` releases them again and also clears
        every platform pause (429 waits, rejected credentials): what waited is due now."""
        now = self._clock()
        async with self._sessions.begin() as session:
            await repo.set_state(session, PAUSED_KEY, "1" if paused else None, now)
            if not paused:
                await self._reslot(session, now)
                real = self._real()
                await pauses.clear_pauses(session, real)
                await repo.set_state(session, PROBE_KEY, None, real)
                await repo.release_waits(session, real)

    async def make_due(self, post_id: int) -> None:
        """``now ID``: the post becomes due at once (the dispatcher sends it next). For a post
        that was sent in part (parked, dead or failed deliveries), the unsent ones are retried."""
        now = self._clock()
        async with self._sessions.begin() as session:
            await repo.take_lock(session, "queue", now)
            post = await repo.get_post(session, post_id)
            if post is not None and post.state in ("sending", "failed"):
                if not await repo.retry_unsent(session, post.id, now):
                    raise QueueError(f"post {post_id} has nothing left to send")
                post.state, post.updated_at = "sending", now
                return
            post = await self._open_post(session, post_id, editable=True)
            post.slot, post.rank, post.updated_at = now, 0, now
            await session.flush()
            others = [p for p in await repo.queued_papers(session) if p.id != post.id]
            for rank, other in enumerate(others, 1):
                other.rank = rank
            slots = next_slots(self._rule, now, len(others)) if others else []
            for other, slot in zip(others, slots, strict=True):
                other.slot = slot

    async def _open_post(self, session: AsyncSession, post_id: int, *, editable: bool) -> Post:
        post = await repo.get_post(session, post_id)
        if post is None or post.state == "cancelled":
            raise QueueError(f"no post with id {post_id} in the queue")
        if editable and post.state != "queued":
            raise QueueError(f"post {post_id} is already {post.state}; it can no longer change")
        return post


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
