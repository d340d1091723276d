"""``digestbot run``: the long-running worker. Graceful on SIGTERM/SIGINT: the delivery in
hand is finished and recorded, nothing new is claimed, then everything closes."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import TYPE_CHECKING

from bot.app import build, connect_publishers
from bot.clock import Clock, system_clock
from bot.config import Settings
from bot.publish.platforms import Platforms
from bot.scheduler import make_scheduler
from bot.services.dispatch import Dispatcher
from bot.services.ticks import TickLeases

if TYPE_CHECKING:  # feedparser and selectolax load with the first poll's service
    from bot.services.feeds import FeedService

logger = logging.getLogger(__name__)
SETTLE_SECONDS = 5.0  # at a stop, scheduled jobs still running are waited for this long


class Waker:
    """Runs one dispatcher tick at a time; a wake-up during a tick is folded into it. Before
    each tick, platforms that could not start are tried again (each on its own back-off)."""

    def __init__(self, dispatcher: Dispatcher, platforms: Platforms | None = None) -> None:
        self._dispatcher = dispatcher
        self._platforms = platforms
        self._lock = asyncio.Lock()
        self._stopped = False
        self.ticks = 0

    def stop(self) -> None:
        """No tick starts from now on (the worker stops)."""
        self._stopped = True

    @property
    def busy(self) -> bool:
        """A tick runs here: a scheduled tick leased across workers goes to an idle one."""
        return self._lock.locked()

    async def prepare(self) -> None:
        """Platforms that could not start are tried again: this worker's own business, done
        at every wake-up whichever worker takes the shared tick."""
        if self._platforms is None or self._lock.locked():
            return
        async with self._lock:
            try:
                await self._platforms.connect()
                await self._platforms.start_polling()
            except Exception:
                logger.exception("reconnecting the platforms failed")

    async def __call__(self) -> None:
        if self._lock.locked() or self._stopped:
            return
        async with self._lock:
            try:
                if self._platforms is not None:
                    await self._platforms.connect()
                    await self._platforms.start_polling()
                await self._dispatcher.tick()
                self.ticks += 1
            except Exception:  # one bad tick must not stop the worker; the next one retries
                logger.exception("dispatch tick failed")

    async def drain(self) -> None:
        async with self._lock:
            return


class FeedPoller:
    """The worker's feed job: one poll at a time; a failure is logged, the next poll retries."""

    def __init__(self, feeds: FeedService) -> None:
        self._feeds = feeds
        self._lock = asyncio.Lock()

    @property
    def busy(self) -> bool:
        return self._lock.locked()

    async def __call__(self) -> None:
        if self._lock.locked():
            return
        async with self._lock:
            try:
                await self._feeds.poll()
            except Exception:  # one bad poll must not stop the worker
                logger.exception("feed poll failed")


async def run_worker(
    settings: Settings,
    *,
    dry_run: bool = False,
    clock: Clock = system_clock,
    stop: asyncio.Event | None = None,
) -> None:
    app = build(settings, clock)
    stop = stop or asyncio.Event()
    catch_up: asyncio.Task[None] | None = None
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        if await connect_publishers(app, dry_run=dry_run):  # each problem is alerted once
            logger.warning("the worker keeps running and tries again with back-off")
        dispatcher = app.dispatcher(drain_groups=True)  # a channel backlog leaves at 1/s
        waker = Waker(dispatcher, app.platforms)
        # each scheduled tick runs in one of the workers sharing the database
        ticks = TickLeases(app.sessions, clock, lease_seconds=settings.delivery.lease_seconds)
        scheduler = make_scheduler(settings, waker, FeedPoller(app.feeds), ticks=ticks, clock=clock)
        scheduler.start()
        logger.info("worker started: destinations %s", ", ".join(app.destinations) or "none")
        # catch up at once (missed slots, expired leases); a task, so that a SIGTERM during
        # a long catch-up (a broadcast due at start) stops it like any other tick
        catch_up = asyncio.create_task(waker())
        await stop.wait()
        logger.info("stopping: finishing the delivery in hand")
        scheduler.pause()  # no new wake-ups
        dispatcher.stop()  # claim nothing more
        waker.stop()  # start no tick (the catch-up may not have begun yet)
        await waker.drain()  # the tick in hand completes (shutting down first would cancel it)
        await catch_up
        await ticks.settle(SETTLE_SECONDS)  # a lease being written is written
        scheduler.shutdown(wait=False)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        if catch_up is not None and not catch_up.done():  # start-up failed after it began
            catch_up.cancel()
        await app.aclose()
        logger.info("worker stopped")
