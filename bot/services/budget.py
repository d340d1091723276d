"""The X daily cap and monthly budget, held across processes.

Every X claim reserves its post in the claim's own transaction, after taking the ``x-budget``
lock row: the usage it reads includes every post another process has claimed and not released,
so however many dispatchers run at once, the cap and the budget hold.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from bot.config import TwitterSettings
from bot.domain.costs import post_cost
from bot.domain.x_text import contains_url
from bot.store import queue as repo
from bot.store.models import Delivery
from bot.store.queue import LedgerRow


@dataclass(slots=True)
class Usage:
    """X posts today and dollars this month (the author's day and month, real time)."""

    day_start: datetime
    month_start: datetime
    posts_today: int
    spent_month: float

    def add(self, cost: float) -> None:
        self.posts_today += 1
        self.spent_month += cost

    def without(self, stamp: datetime | None, cost: float | None, until: datetime) -> None:
        """Leave out one reservation (stamped ``stamp``, costing ``cost``) already counted."""
        if stamp is None or stamp >= until:
            return
        if stamp >= self.day_start:
            self.posts_today -= 1
        if stamp >= self.month_start:
            self.spent_month -= cost or 0.0


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    claimed: bool = False
    resume_at: datetime | None = None
    reason: str | None = None
    alert_key: str = ""


def _local_midnight(
    moment: datetime, tz: ZoneInfo, *, days: int = 0, month: bool = False
) -> datetime:
    local = moment.astimezone(tz)
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if month:
        start = start.replace(day=1)
    if days:
        start = (start + timedelta(days=days)).replace(tzinfo=None).replace(tzinfo=tz)
    return start.astimezone(UTC)


def _next_month(moment: datetime, tz: ZoneInfo) -> datetime:
    local = moment.astimezone(tz)
    year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    return datetime(year, month, 1, tzinfo=tz).astimezone(UTC)


class XBudget:
    """Days and months are the author's (the schedule's time zone)."""

    def __init__(self, twitter: TwitterSettings, timezone: str) -> None:
        self._tw = twitter
        self._tz = ZoneInfo(timezone)

    def cost(self, x_text: str) -> float:
        return post_cost(
            contains_url(x_text),
            plain=self._tw.cost_per_post_usd,
            with_url=self._tw.cost_per_post_with_url_usd,
        )

    def _window(self, now: datetime) -> tuple[datetime, datetime, datetime]:
        """(day start, month start, end of the day): posts stamped later than today by a
        rehearsal at a travelled ``--now`` do not count against today."""
        day_start = _local_midnight(now, self._tz)
        return (
            day_start,
            _local_midnight(now, self._tz, month=True),
            _local_midnight(now, self._tz, days=1),
        )

    async def usage(self, session: AsyncSession, now: datetime) -> Usage:
        day_start, month_start, until = self._window(now)
        posts, spent = await repo.x_usage(session, day_start, month_start, until)
        return Usage(day_start, month_start, posts, spent)

    def usage_sync(self, session: Session, now: datetime) -> Usage:
        day_start, month_start, until = self._window(now)
        posts, spent = repo.x_usage_sync(session, day_start, month_start, until)
        return Usage(day_start, month_start, posts, spent)

    def claim(
        self,
        session: Session,
        /,
        delivery: Delivery | LedgerRow,
        x_text: str,
        now: datetime,
        lease_until: datetime,
        horizon: repo.Horizon | None = None,
    ) -> Verdict:
        """In one transaction: lock, read the usage, check, claim with a reservation. Not
        ``allowed``: the cap or budget says wait; allowed but not ``claimed``: another worker
        has the delivery. A delivery whose lease ran out (outcome unknown) already holds a
        reservation: it is re-claimed in its place, not counted twice. On PostgreSQL a row
        another transaction holds counts as taken (never waited for under the lock)."""
        repo.take_lock_sync(session, "x-budget", now)
        usage = self.usage_sync(session, now)
        if delivery.state == "sending":
            stamp, cost = repo.reservation_sync(session, delivery.id)
            usage.without(stamp, cost, self._window(now)[2])
        verdict = self.check(usage, x_text, now)
        if not verdict.allowed:
            return verdict
        if session.get_bind().dialect.name != "sqlite" and not repo.claimable(
            session, delivery, now, horizon
        ):
            return Verdict(True, claimed=False)
        cost = self.cost(x_text)
        won = repo.claim(session, delivery, now, lease_until, reserve_usd=cost, horizon=horizon)
        return Verdict(True, claimed=won)

    def check(self, usage: Usage, x_text: str, now: datetime) -> Verdict:
        if usage.posts_today >= self._tw.daily_cap:
            resume = _local_midnight(now, self._tz, days=1)
            return Verdict(
                False,
                False,
                resume,
                f"X daily cap reached ({usage.posts_today}/{self._tw.daily_cap} posts today); "
                f"X posts wait until {resume.astimezone(self._tz):%Y-%m-%d %H:%M %Z}",
                f"alert:x-cap:{usage.day_start.date()}",
            )
        cost = self.cost(x_text)
        if usage.spent_month + cost > self._tw.monthly_budget_usd + 1e-9:
            resume = _next_month(now, self._tz)
            return Verdict(
                False,
                False,
                resume,
                f"X monthly budget reached (${usage.spent_month:.2f} spent of "
                f"${self._tw.monthly_budget_usd:.2f}, next post ${cost:.2f}); "
                f"X posts wait until {resume.astimezone(self._tz):%Y-%m-%d}",
                f"alert:x-budget:{usage.month_start.date()}",
            )
        return Verdict(True)
