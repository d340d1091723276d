"""``digestbot stats`` and Telegram's /stats: subscribers, posts sent per destination,
failures, the X spend this month, and a 12-week series with a PNG chart.

Weeks are the author's (``schedule.timezone``), Monday to Sunday. matplotlib is imported only
when a chart is drawn (:func:`render_png`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.config import Settings
from bot.services.budget import XBudget
from bot.store import maintainer as repo

MAX_WEEKS = 104


@dataclass(frozen=True, slots=True)
class WeekStats:
    start: date  # the Monday (author's time zone)
    posts_sent: int  # posts with at least one delivery sent that week
    new_subscribers: int
    failures: int  # deliveries that ended failed, dead or parked that week
    x_spend_usd: float


@dataclass(frozen=True, slots=True)
class Stats:
    active: int
    blocked: int
    inactive: int
    new_this_week: int
    sent_per_destination: dict[str, int]  # "x", "telegram:channel", "subscribers"
    failures: dict[str, int]  # parked / failed / dead deliveries now
    x_spend_month_usd: float
    x_budget_usd: float
    weeks: list[WeekStats]  # oldest first

    def lines(self) -> list[str]:
        sent = ", ".join(f"{d} {n:,}" for d, n in self.sent_per_destination.items()) or "none"
        failed = ", ".join(f"{s} {n:,}" for s, n in self.failures.items()) or "none"
        weeks = len(self.weeks)
        recent = sum(w.posts_sent for w in self.weeks)
        return [
            f"subscribers: {self.active:,} active, {self.blocked:,} blocked, "
            f"{self.inactive:,} inactive; {self.new_this_week:,} new this week",
            f"deliveries sent: {sent}",
            f"failures: {failed}",
            f"X spend this month: ${self.x_spend_month_usd:.2f} of ${self.x_budget_usd:.2f}",
            f"posts sent in the last {weeks} weeks: {recent:,}",
        ]


def stats_json(stats: Stats) -> dict[str, Any]:
    return {
        "subscribers": {
            "active": stats.active,
            "blocked": stats.blocked,
            "inactive": stats.inactive,
            "new_this_week": stats.new_this_week,
        },
        "sent_per_destination": stats.sent_per_destination,
        "failures": stats.failures,
        "x": {"spent_month_usd": stats.x_spend_month_usd, "budget_usd": stats.x_budget_usd},
        "weeks": [
            {
                "start": w.start.isoformat(),
                "posts_sent": w.posts_sent,
                "new_subscribers": w.new_subscribers,
                "failures": w.failures,
                "x_spend_usd": round(w.x_spend_usd, 4),
            }
            for w in stats.weeks
        ],
    }


class StatsService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
        clock: Clock,
        real_clock: Clock | None = None,
    ) -> None:
        self._sessions = sessions
        self._settings = settings
        self._clock = real_clock or clock  # stats describe what really happened
        self._tz = ZoneInfo(settings.schedule.timezone)

    def _week_start(self, moment: datetime) -> datetime:
        local = moment.astimezone(self._tz)
        monday = local.date() - timedelta(days=local.weekday())
        return datetime(monday.year, monday.month, monday.day, tzinfo=self._tz).astimezone(UTC)

    async def stats(self, weeks: int = 12) -> Stats:
        weeks = max(1, min(weeks, MAX_WEEKS))
        now = self._clock()
        this_week = self._week_start(now)
        local = this_week.astimezone(self._tz)
        starts = [
            datetime.combine(
                local.date() - timedelta(weeks=back), local.time(), self._tz
            ).astimezone(UTC)
            for back in range(weeks - 1, -1, -1)
        ]
        bounds = [*starts, starts[-1] + timedelta(weeks=1, hours=1)]  # (+1 h: a DST week)
        async with self._sessions() as session:
            states = await repo.subscriber_states(session)
            new = await repo.subscribers_per_week(session, bounds)
            per_dest = await repo.sent_per_destination(session)
            problems = await repo.problem_counts(session)
            sent = await repo.sent_per_week(session, bounds)
            failures = await repo.problems_per_week(session, bounds)
            usage = await XBudget(self._settings.twitter, self._settings.schedule.timezone).usage(
                session, now
            )
        grouped = dict(sorted(per_dest.items()))
        series = [
            WeekStats(
                start.astimezone(self._tz).date(), sent[i][0], new[i], failures[i], sent[i][1]
            )
            for i, start in enumerate(starts)
        ]
        return Stats(
            active=states.get("active", 0),
            blocked=states.get("blocked", 0),
            inactive=states.get("inactive", 0),
            new_this_week=new[-1],
            sent_per_destination=grouped,
            failures={k: problems[k] for k in ("parked", "failed", "dead") if k in problems},
            x_spend_month_usd=round(usage.spent_month, 4),
            x_budget_usd=self._settings.twitter.monthly_budget_usd,
            weeks=series,
        )

    async def png(self, stats: Stats) -> bytes:
        """:func:`render_png` in a worker thread (drawing takes a few hundred ms)."""
        return await asyncio.to_thread(render_png, stats)


def render_png(stats: Stats) -> bytes:
    """A PNG of the weekly series: posts sent and new subscribers (bars), failures, and the
    X spend (line, right axis). matplotlib is imported here, when a chart is drawn."""
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    labels = [w.start.strftime("%m-%d") for w in stats.weeks]
    positions = list(range(len(labels)))
    figure = Figure(figsize=(8, 4.5), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    width = 0.28
    axes.bar(
        [p - width for p in positions],
        [w.posts_sent for w in stats.weeks],
        width,
        label="posts sent",
    )
    axes.bar(positions, [w.new_subscribers for w in stats.weeks], width, label="new subscribers")
    axes.bar(
        [p + width for p in positions],
        [w.failures for w in stats.weeks],
        width,
        label="failures",
    )
    axes.set_xticks(positions, labels, rotation=45, fontsize=8)
    axes.set_ylabel("per week")
    axes.set_title(f"digestbot, last {len(labels)} weeks (week starting)")
    spend = axes.twinx()
    spend.plot(positions, [w.x_spend_usd for w in stats.weeks], color="black", marker="o")
    spend.set_ylabel("X spend (USD)")
    spend.set_ylim(bottom=0)
    axes.legend(loc="upper left", fontsize=8)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
