"""Slot timing: how late the worker wakes for a slot (real time), and whether a year of
simulated ticks across daylight-saving changes releases exactly one post per slot.

    .venv/bin/python benchmarks/bench_slots.py           # 5 real-time slots + a cron minute,
                                                         # 52 simulated weeks
    .venv/bin/python benchmarks/bench_slots.py --quick   # 2 real-time slots, 4 simulated
                                                         # days around each DST change

(a) Real time: the worker's own scheduler (``bot.scheduler.make_scheduler`` driving
``bot.worker.Waker`` around a real ``Dispatcher`` on a temporary SQLite database, in-memory
publishers). For each measured slot the next queued post gets slot ``t`` (about 1.5 s ahead)
and the slot job's next fire time is set to ``t`` (APScheduler ``Job.modify``); the full run
also waits for one genuine CronTrigger fire at the next minute boundary. Printed: wake-up
lateness (job start - t) and release lateness (publisher called - t); target within 2 s.

(b) Simulated: schedule Europe/Berlin, slots 02:30 and 09:00 daily, digest Sunday 20:00; a
FrozenClock ticks ``Dispatcher.tick`` every 10 simulated minutes, a new weekly issue is
queued every Monday. Each release is matched to the slot it belongs to (the expected
instants are computed independently: a wall time that does not exist, 02:30 on the spring
change day, is the first instant after the gap, 03:00 CEST; a repeated one, 02:30 on the
autumn change day, fires once, at its first occurrence). Printed: slots, releases, missed and
doubled slots (target 0/0), and what happened on each change day.

Timings are reported, never enforced: the script always exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.table import Table
from sqlalchemy import update

from bot.app import Container, build
from bot.clock import FrozenClock
from bot.config import Settings, load_settings
from bot.domain.model import ParsedIssue, ParsedItem
from bot.publish.base import Outgoing, Sent
from bot.scheduler import make_scheduler
from bot.store import archive as archive_repo
from bot.store import queue as repo
from bot.store.migrate import upgrade
from bot.store.models import Post
from bot.worker import Waker

TARGET_LATENESS_S = 2.0
BERLIN = ZoneInfo("Europe/Berlin")
SIM_SLOTS = ("02:30", "09:00")
TICK = timedelta(minutes=10)
DESTINATIONS = ["x", "telegram:channel"]


class StampingPublisher:
    """In-memory publisher that remembers when each post was handed to it (wall clock)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.stamps: dict[int, float] = {}

    async def send(self, destination: str, post: Outgoing) -> Sent:
        self.stamps.setdefault(post.post_id, time.time())
        return Sent(f"{self.name}-{len(self.stamps)}")

    async def close(self) -> None:
        return None


def weekly_issue(year: int, week: int, n: int) -> ParsedIssue:
    start = date.fromisocalendar(year, week, 1)
    items = tuple(
        ParsedItem(
            i,
            "papers",
            f"Week {week} comment {i}.",
            None,
            f"https://arxiv.org/abs/{year % 100:02d}{week:02d}.{i:05d}",
            f"arxiv:{year % 100:02d}{week:02d}.{i:05d}",
            "",
            (),
            False,
        )
        for i in range(1, n + 1)
    )
    return ParsedIssue(
        key=f"{year}-W{week:02d}", kind="weekly", year=year, week=week, month=None,
        title=f"ML news {year}-W{week:02d}", url=f"https://medium.com/@bench/{year}-w{week:02d}",
        start=start, end=start + timedelta(days=6), items=items, picks=(),
    )  # fmt: skip


async def queue_issue(app: Container, issue: ParsedIssue) -> None:
    async with app.sessions.begin() as session:
        await session.run_sync(
            archive_repo.upsert_issue, issue, source="bench", digest=issue.key, now=app.clock()
        )
    await app.queue.enqueue_issues([issue.key])


def fresh_db(tmp: str) -> str:
    url = f"sqlite:///{Path(tmp) / 'bench.db'}"
    upgrade(url)
    return url


def with_schedule(settings: Settings, **schedule: object) -> Settings:
    sections = {
        "schedule": settings.schedule.model_copy(update=schedule),
        "delivery": settings.delivery.model_copy(update={"poll_seconds": 3600.0}),
    }
    return settings.model_copy(update=sections)


# --- (a) real time --------------------------------------------------------------------------


@dataclass
class RealSlot:
    kind: str
    at: datetime
    wake: float | None = None
    release: float | None = None

    def lateness(self, stamp: float | None) -> float | None:
        return None if stamp is None else stamp - self.at.timestamp()


@dataclass
class RealRun:
    slots: list[RealSlot] = field(default_factory=list)


async def _wait(condition: Callable[[], bool], deadline: float) -> bool:
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


async def real_time(db_url: str, count: int, lead: float, cron: bool) -> RealRun:
    now = datetime.now(UTC)
    cron_at = (now + timedelta(seconds=65)).replace(second=0, microsecond=0) if cron else None
    slot = f"{cron_at:%H:%M}" if cron_at else "00:00"
    settings = with_schedule(load_settings(database_url=db_url), timezone="UTC", slots=[slot])
    app = build(settings)
    run = RealRun()
    try:
        x, tg = StampingPublisher("x"), StampingPublisher("telegram")
        app.publishers, app.destinations = {"x": x, "telegram": tg}, list(DESTINATIONS)
        await queue_issue(app, weekly_issue(2026, 10, count + 2))
        async with app.sessions() as session:
            ids = [p.id for p in await repo.queued_papers(session)]
        waker = Waker(app.dispatcher())
        wakes: list[float] = []

        async def wake() -> None:
            wakes.append(time.time())
            await waker()

        scheduler = make_scheduler(settings, wake)
        scheduler.start()
        try:
            job = scheduler.get_job(f"slot-{slot}")
            plan = [("next_run_time", None)] * count + ([("cron", cron_at)] if cron_at else [])
            for index, (kind, fixed) in enumerate(plan):
                at = fixed or datetime.now(UTC) + timedelta(seconds=lead)
                async with app.sessions.begin() as session:
                    await session.execute(update(Post).where(Post.id == ids[index]).values(slot=at))
                if kind == "next_run_time":
                    job.modify(next_run_time=at)
                record = RealSlot(kind, at)
                run.slots.append(record)
                seen = len(wakes)
                deadline = time.monotonic() + (at - datetime.now(UTC)).total_seconds() + 30
                post = ids[index]

                def delivered(post: int = post) -> bool:
                    return post in x.stamps and post in tg.stamps

                await _wait(delivered, deadline)
                late = [w for w in wakes[seen:] if w >= at.timestamp() - 0.5]
                record.wake = late[0] if late else None
                record.release = max(x.stamps.get(post, 0), tg.stamps.get(post, 0)) or None
        finally:
            scheduler.pause()  # the worker's order: no new wake-ups, drain, then shut down
            await waker.drain()
            scheduler.shutdown(wait=False)
    finally:
        await app.aclose()
    return run


# --- (b) simulated year ---------------------------------------------------------------------


def resolve_wall(day: date, hour: int, minute: int, tz: ZoneInfo) -> datetime:
    """The earliest instant whose local wall time is at or after ``day hour:minute``."""
    naive = datetime(day.year, day.month, day.day, hour, minute)
    probe = naive
    while True:
        instant = probe.replace(tzinfo=tz, fold=0)
        if instant.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == probe:
            return instant.astimezone(UTC)
        probe += timedelta(minutes=1)  # inside a spring-forward gap


def expected_instants(start: datetime, end: datetime) -> tuple[list[datetime], list[datetime]]:
    slots, sundays = [], []
    day = start.astimezone(BERLIN).date() - timedelta(days=1)
    while day <= end.astimezone(BERLIN).date() + timedelta(days=1):
        for at in SIM_SLOTS:
            hour, minute = map(int, at.split(":"))
            instant = resolve_wall(day, hour, minute, BERLIN)
            if start < instant <= end:
                slots.append(instant)
        if day.isoweekday() == 7:
            instant = resolve_wall(day, 20, 0, BERLIN)
            if start < instant <= end:
                sundays.append(instant)
        day += timedelta(days=1)
    return sorted(set(slots)), sundays


@dataclass
class SimResult:
    window: str
    ticks: int
    seconds: float
    slots: list[datetime]
    sundays: list[datetime]
    papers: list[datetime]  # tick time of each paper release
    digests: list[datetime]

    def per_slot(self, instants: list[datetime], releases: list[datetime]) -> Counter[datetime]:
        counts: Counter[datetime] = Counter({at: 0 for at in instants})
        for moment in releases:
            owner = max((at for at in instants if at <= moment), default=None)
            counts[owner or datetime.min.replace(tzinfo=UTC)] += 1
        return counts

    def missed_doubled(self, instants: list[datetime], releases: list[datetime]) -> tuple[int, int]:
        counts = self.per_slot(instants, releases)
        return sum(1 for c in counts.values() if c == 0), sum(1 for c in counts.values() if c > 1)

    def max_lateness(self, instants: list[datetime], releases: list[datetime]) -> timedelta:
        late = [m - max(at for at in instants if at <= m) for m in releases if m >= instants[0]]
        return max(late, default=timedelta(0))


async def simulate(db_url: str, start: datetime, span: timedelta) -> SimResult:
    settings = with_schedule(
        load_settings(database_url=db_url),
        timezone="Europe/Berlin",
        slots=list(SIM_SLOTS),
        weekly_day="sun",
        weekly_time="20:00",
    )
    settings = settings.model_copy(
        update={"twitter": settings.twitter.model_copy(update={"monthly_budget_usd": 1e6})}
    )
    clock = FrozenClock(start)
    app = build(settings, clock)
    papers: list[datetime] = []
    digests: list[datetime] = []
    end = start + span
    ticks = 0
    try:
        app.publishers = {"x": StampingPublisher("x"), "telegram": StampingPublisher("telegram")}
        app.destinations = list(DESTINATIONS)
        year, week, _ = start.astimezone(BERLIN).isocalendar()
        await queue_issue(app, weekly_issue(year, week, 16))  # a week and a bit of buffer
        dispatcher = app.dispatcher()
        started = time.perf_counter()
        while clock.now < end:
            clock.advance(seconds=TICK.total_seconds())
            ticks += 1
            local = clock.now.astimezone(BERLIN)
            if local.isoweekday() == 1 and (local.hour, local.minute) == (12, 0):
                year, week, _ = local.isocalendar()
                await queue_issue(app, weekly_issue(year, week, 15))
            report = await dispatcher.tick()
            if report.released:
                async with app.sessions() as session:
                    for post_id in report.released:
                        post = await session.get(Post, post_id)
                        assert post is not None
                        (digests if post.kind == "digest" else papers).append(clock.now)
        seconds = time.perf_counter() - started
    finally:
        await app.aclose()
    slots, sundays = expected_instants(start, end)
    window = f"{start.astimezone(BERLIN):%Y-%m-%d} .. {end.astimezone(BERLIN):%Y-%m-%d}"
    return SimResult(window, ticks, seconds, slots, sundays, papers, digests)


# --- output ---------------------------------------------------------------------------------

CHANGE_DAYS = (date(2026, 3, 29), date(2026, 10, 25))


def print_real(console: Console, run: RealRun) -> None:
    table = Table(title="(a) real time: worker scheduler wake-up per slot")
    for col in ("slot", "kind", "wake lateness", "release lateness", "target", "ok"):
        table.add_column(col, justify="left" if col in ("slot", "kind") else "right")
    for record in run.slots:
        wake, release = record.lateness(record.wake), record.lateness(record.release)
        ok = release is not None and release <= TARGET_LATENESS_S
        table.add_row(
            f"{record.at:%H:%M:%S.%f}"[:-3], record.kind,
            "missed" if wake is None else f"{wake * 1000:.1f} ms",
            "missed" if release is None else f"{release * 1000:.1f} ms",
            f"<= {TARGET_LATENESS_S:.0f} s", "yes" if ok else "NO",
        )  # fmt: skip
    console.print(table)
    worst = [r.lateness(r.release) for r in run.slots]
    values = [w for w in worst if w is not None]
    console.print(
        f"real-time slots: {len(run.slots)}, max release lateness "
        f"{max(values, default=float('nan')) * 1000:.1f} ms, missed "
        f"{len(worst) - len(values)}"
    )


def print_sim(console: Console, results: Sequence[SimResult]) -> None:
    table = Table(title="(b) simulated ticks every 10 min, Europe/Berlin, slots 02:30 and 09:00")
    for col in (
        "window", "ticks", "ticks/s", "slots", "paper releases", "missed", "doubled",
        "max lateness", "Sundays", "digests", "digest missed/doubled",
    ):  # fmt: skip
        table.add_column(col, justify="left" if col == "window" else "right")
    for r in results:
        missed, doubled = r.missed_doubled(r.slots, r.papers)
        d_missed, d_doubled = r.missed_doubled(r.sundays, r.digests)
        table.add_row(
            r.window, str(r.ticks), f"{r.ticks / r.seconds:,.0f}", str(len(r.slots)),
            str(len(r.papers)), str(missed), str(doubled),
            str(r.max_lateness(r.slots, r.papers)), str(len(r.sundays)), str(len(r.digests)),
            f"{d_missed}/{d_doubled}",
        )  # fmt: skip
    console.print(table)
    total_missed = sum(r.missed_doubled(r.slots, r.papers)[0] for r in results)
    total_doubled = sum(r.missed_doubled(r.slots, r.papers)[1] for r in results)
    console.print(f"missed/doubled slots: {total_missed}/{total_doubled} (target 0/0)")
    for day in CHANGE_DAYS:
        released = [
            f"{m.astimezone(BERLIN):%H:%M %Z}"
            for r in results
            for m in r.papers
            if m.astimezone(BERLIN).date() == day
        ]
        console.print(f"DST change day {day}: paper releases at {', '.join(released) or 'none'}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--slots", type=int, default=5, help="real-time slots to measure")
    parser.add_argument("--weeks", type=int, default=52, help="simulated weeks")
    parser.add_argument("--no-cron", action="store_true", help="skip the cron-minute slot")
    parser.add_argument(
        "--quick", action="store_true", help="2 real-time slots, 4 days around each DST change"
    )
    args = parser.parse_args(argv)
    console = Console(width=None if sys.stdout.isatty() else 200)
    with tempfile.TemporaryDirectory(prefix="bench-slots-") as tmp:
        count = 2 if args.quick else args.slots
        run = asyncio.run(real_time(fresh_db(tmp), count, 1.5, not (args.quick or args.no_cron)))
    print_real(console, run)
    if args.quick:  # Friday to Tuesday around each 2026 change (the last Sundays of Mar/Oct)
        windows = [
            (datetime(2026, 3, 27, tzinfo=BERLIN), timedelta(days=4)),
            (datetime(2026, 10, 23, tzinfo=BERLIN), timedelta(days=4)),
        ]
    else:
        windows = [(datetime(2026, 1, 5, tzinfo=BERLIN), timedelta(weeks=args.weeks))]
    results = []
    for start, span in windows:
        with tempfile.TemporaryDirectory(prefix="bench-slots-") as tmp:
            results.append(asyncio.run(simulate(fresh_db(tmp), start.astimezone(UTC), span)))
    print_sim(console, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
