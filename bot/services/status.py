"""What is next, what waits and why, what went wrong, what was sent: ``digestbot status``,
``digestbot queue history`` and (later) the maintainer's ``/status`` in Telegram.

Read-only: one session, no writes. Times are UTC datetimes; callers show them in the author's
time zone (``Status.timezone``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.config import Settings
from bot.domain.links import telegram_channel_link, x_post_link
from bot.publish.base import CHANNEL
from bot.services.budget import XBudget
from bot.services.pauses import Pause, active_pauses
from bot.services.queue import PAUSED_KEY
from bot.store import queue as repo
from bot.store.models import Post

RECENT = 5
PROBLEMS = 20


@dataclass(frozen=True, slots=True)
class NextPost:
    id: int
    kind: str
    slot: datetime
    paper: str | None
    issue: str | None
    text: str


@dataclass(frozen=True, slots=True)
class DestinationStatus:
    destination: str
    next_paper: NextPost | None
    next_digest: NextPost | None
    waiting: int  # released deliveries not sent yet (retrying, held by a pause or the X cap)
    next_due: datetime | None  # the soonest of those
    holds: tuple[str, ...]  # why posts to this destination wait right now


@dataclass(frozen=True, slots=True)
class XSpend:
    posts_today: int
    daily_cap: int
    spent_month: float
    monthly_budget: float


@dataclass(frozen=True, slots=True)
class Problem:
    """A delivery that needs the maintainer: parked (outcome unknown), failed or dead."""

    post_id: int
    destination: str
    state: str
    reason: str
    when: datetime
    attempts: int


@dataclass(frozen=True, slots=True)
class SentDelivery:
    destination: str
    state: str
    remote_id: str | None
    link: str | None
    sent_at: datetime | None


@dataclass(frozen=True, slots=True)
class SentPost:
    id: int
    kind: str
    paper: str | None
    issue: str | None
    text: str
    sent_at: datetime  # its latest delivery
    deliveries: tuple[SentDelivery, ...]


@dataclass(frozen=True, slots=True)
class Status:
    now: datetime
    timezone: str
    queue_paused: bool
    next_paper: NextPost | None  # the same for every destination: each gets every post
    next_digest: NextPost | None
    destinations: list[DestinationStatus]
    pauses: list[Pause]
    x: XSpend
    problems: list[Problem]
    problems_total: int
    recent: list[SentPost]


def configured_destinations(settings: Settings) -> list[str]:
    """The destinations ``connect_publishers`` sets up for these settings."""
    found = []
    if settings.twitter.credentials_complete():
        found.append("x")
    if settings.telegram.token is not None and settings.telegram.channel_id:
        found.append(CHANNEL)
    return found


def post_link(destination: str, remote_id: str | None, channel_id: str | None) -> str | None:
    if destination == "x":
        return x_post_link(remote_id)
    if destination == CHANNEL:
        return telegram_channel_link(channel_id, remote_id)
    return None


class StatusService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
        clock: Clock,
        real_clock: Clock | None = None,
    ) -> None:
        """``real_clock`` (default ``clock``) measures platform pauses and the X day."""
        self._sessions = sessions
        self._settings = settings
        self._clock = clock
        self._real_clock = real_clock or clock
        self._tz = ZoneInfo(settings.schedule.timezone)

    async def status(self, *, recent: int = RECENT, problems: int = PROBLEMS) -> Status:
        now, real_now = self._clock(), self._real_clock()
        tw = self._settings.twitter
        async with self._sessions() as session:
            paused = await repo.get_state(session, PAUSED_KEY) == "1"
            pauses = await active_pauses(session, real_now)
            usage = await XBudget(tw, self._settings.schedule.timezone).usage(session, real_now)
            next_paper = await repo.next_queued(session, "paper")
            next_digest = await repo.next_queued(session, "digest")
            found = [p for p in (next_paper, next_digest) if p is not None]
            keys = await _keys(session, found)
            paper = _next(next_paper, keys) if next_paper else None
            digest = _next(next_digest, keys) if next_digest else None
            waiting = await repo.waiting_deliveries(session)
            rows, problems_total = await repo.problem_deliveries(session, problems)
            sent = await self._sent(session, recent)
        spend = XSpend(usage.posts_today, tw.daily_cap, usage.spent_month, tw.monthly_budget_usd)
        destinations = [
            DestinationStatus(
                dest,
                paper,
                digest,
                *waiting.get(dest, (0, None)),
                holds=self._holds(dest, pauses, spend),
            )
            for dest in configured_destinations(self._settings)
        ]
        return Status(
            now=now,
            timezone=self._settings.schedule.timezone,
            queue_paused=paused,
            next_paper=paper,
            next_digest=digest,
            destinations=destinations,
            pauses=pauses,
            x=spend,
            problems=[
                Problem(
                    d.post_id, d.destination, d.state, d.last_error or "", d.updated_at, d.attempts
                )
                for d in rows
            ],
            problems_total=problems_total,
            recent=sent,
        )

    async def history(self, limit: int = 20) -> list[SentPost]:
        async with self._sessions() as session:
            return await self._sent(session, limit)

    async def _sent(self, session: AsyncSession, limit: int) -> list[SentPost]:
        rows = await repo.sent_posts(session, limit)
        keys = await _keys(session, [post for post, _ in rows])
        channel = self._settings.telegram.channel_id
        return [
            SentPost(
                id=post.id,
                kind=post.kind,
                paper=post.paper.identity if post.paper else None,
                issue=keys.get(post.issue_id) if post.issue_id else None,
                text=post.text,
                sent_at=when,
                deliveries=tuple(
                    SentDelivery(
                        d.destination,
                        d.state,
                        d.remote_id,
                        post_link(d.destination, d.remote_id, channel)
                        if d.state == "sent"
                        else None,
                        d.sent_at,
                    )
                    for d in sorted(post.deliveries, key=lambda d: d.destination)
                ),
            )
            for post, when in rows
        ]

    def _holds(self, destination: str, pauses: Sequence[Pause], x: XSpend) -> tuple[str, ...]:
        name = destination.split(":", 1)[0]
        holds = [
            f"{p.reason} (until {p.until.astimezone(self._tz):%Y-%m-%d %H:%M %Z})"
            for p in pauses
            if p.platform == name
        ]
        if name == "x":
            if x.posts_today >= x.daily_cap:
                holds.append(f"X daily cap reached ({x.posts_today}/{x.daily_cap} posts today)")
            cheapest = self._settings.twitter.cost_per_post_usd
            if x.spent_month + cheapest > x.monthly_budget + 1e-9:
                holds.append(
                    f"X monthly budget reached (${x.spent_month:.2f} of ${x.monthly_budget:.2f})"
                )
        return tuple(holds)


async def _keys(session: AsyncSession, posts: Sequence[Post]) -> dict[int, str]:
    return await repo.issue_keys(session, {p.issue_id for p in posts if p.issue_id is not None})


def _next(post: Post, keys: dict[int, str]) -> NextPost:
    assert post.slot is not None  # next_queued only returns slotted posts
    return NextPost(
        id=post.id,
        kind=post.kind,
        slot=post.slot,
        paper=post.paper.identity if post.paper else None,
        issue=keys.get(post.issue_id) if post.issue_id else None,
        text=post.text,
    )
