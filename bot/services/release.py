"""Releasing a post at once (``queue now``, Telegram's /now) and the dry-run database copy.

``now`` = make the post due + open the platforms + one dispatcher tick, shared by the command
line and the chat. The rehearsal copy lets ``--dry-run`` work on a throw-away SQLite copy of
the database, so a rehearsal never consumes the real queue.
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from bot.config import Settings
from bot.errors import DigestbotError
from bot.services.audit import Actor
from bot.services.queue import QueueService

if TYPE_CHECKING:  # the dispatcher imports twitter-text (slow): only when a post is released
    from bot.publish.platforms import Platforms
    from bot.services.dispatch import Dispatcher, TickReport

REHEARSAL_NOTE = (
    "dry run: rehearsing on a copy of the database; nothing is published and your queue is "
    "unchanged"
)


class ReleaseError(DigestbotError):
    """A post that cannot be released now (no destination)."""


@contextmanager
def rehearsal_settings(settings: Settings, dry_run: bool) -> Iterator[Settings]:
    """``dry_run``: settings pointing at a private throw-away SQLite copy of the database
    (removed afterwards); otherwise ``settings`` unchanged. A SQLite database is copied with
    SQLite's backup; a PostgreSQL one with ``db copy`` (one snapshot, every table)."""
    if not dry_run:
        yield settings
        return
    from bot.store.db import sqlite_path

    path = sqlite_path(settings.database_url)
    with tempfile.TemporaryDirectory(prefix="digestbot-dry-run-") as tmp:
        copy = Path(tmp) / "rehearsal.db"
        copy.touch(mode=0o600)  # private like the original: it holds the same data
        if path is None:
            from bot.services.dbcopy import copy_database

            copy_database(settings.database_url, f"sqlite:///{copy}")
        else:
            source, target = sqlite3.connect(path), sqlite3.connect(copy)
            try:
                source.backup(target)
            finally:
                source.close()
                target.close()
        yield settings.model_copy(update={"database_url": f"sqlite:///{copy}"})


@dataclass(slots=True)
class ReleaseReport:
    post_id: int
    tick: TickReport
    problems: list[str] = field(default_factory=list)  # platforms that could not start
    paused: bool = False

    @property
    def failed(self) -> bool:
        """A delivery of this post failed, went dead or was parked."""
        return any(post == self.post_id for post, _, _ in self.tick.failed)

    def lines(self) -> list[str]:
        """What happened, one line each (sent, retrying, failed, why it waits)."""
        out = [f"post {p} sent to {d}" for p, d in self.tick.sent]
        out += [f"post {p} to {d}: {why}" for p, d, why in self.tick.retrying + self.tick.failed]
        out += list(self.tick.waiting)
        return out


class ReleaseService:
    def __init__(
        self,
        queue: QueueService,
        platforms: Platforms,
        dispatcher: Callable[[], Dispatcher],
        connect: Callable[[bool], Awaitable[list[str]]],
    ) -> None:
        """``connect(dry_run)`` opens the platforms (``bot.app.connect_publishers``)."""
        self._queue = queue
        self._platforms = platforms
        self._dispatcher = dispatcher
        self._connect = connect

    async def now(
        self, post_id: int, *, actor: Actor | None = None, dry_run: bool = False
    ) -> ReleaseReport:
        """Send ``post_id`` now: it becomes due, the platforms are opened (already open ones
        are left alone) and the dispatcher runs once. With no destination configured nothing
        changes (the post keeps its slot)."""
        problems = await self._connect(dry_run)
        if not self._platforms.destinations:
            raise ReleaseError(
                f"post {post_id} cannot be sent: no destination is configured (set the four "
                "DIGESTBOT_TWITTER__* keys, or DIGESTBOT_TELEGRAM__TOKEN and __CHANNEL_ID)"
            )
        await self._queue.make_due(post_id, actor=actor)
        tick = await self._dispatcher().tick()
        view = await self._queue.view(limit=1)
        report = ReleaseReport(post_id, tick, problems, paused=view.paused)
        touched = {p for p, _ in tick.sent} | {p for p, _, _ in tick.retrying + tick.failed}
        if view.paused and post_id not in tick.released and post_id not in touched:
            tick.waiting.append(
                f"the queue is paused: post {post_id} goes out at once after "
                "`digestbot queue resume` (or /resume)"
            )
        return report
