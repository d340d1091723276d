"""Who changed the queue, what, before and after: the audit log's service side (issue 8).

The queue service writes entries (in the transaction of each change); this module names the
actors and reads the log back for ``digestbot queue audit`` and Telegram's /audit.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.store import audit as repo
from bot.store.models import AuditEntryRow

MAX_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class Actor:
    """Who makes a change: ``cli:<os user>`` on the command line, a Telegram user in the chat."""

    name: str
    user_id: int | None = None

    @classmethod
    def cli(cls) -> Actor:
        try:
            user = getpass.getuser()
        except (OSError, KeyError, ImportError):  # no login name (containers without passwd)
            user = "unknown"
        return cls(f"cli:{user}")

    @classmethod
    def telegram(cls, user_id: int, name: str) -> Actor:
        cleaned = " ".join(name.split())[:120] or "?"
        return cls(cleaned, user_id)

    @property
    def label(self) -> str:
        return self.name if self.user_id is None else f"{self.name} ({self.user_id})"


def resolve(actor: Actor | None) -> Actor:
    return actor if actor is not None else Actor.cli()


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    actor_id: int | None
    verb: str
    post_id: int | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    undone: bool

    @property
    def who(self) -> str:
        return self.actor if self.actor_id is None else f"{self.actor} ({self.actor_id})"

    def summary(self) -> str:
        """One line: ``#12 2026-03-02 08:00 UTC cli:alice move post 4: position 3 -> 1``."""
        when = self.at.strftime("%Y-%m-%d %H:%M UTC")
        what = describe(self.verb, self.post_id, self.before, self.after)
        mark = " (undone)" if self.undone else ""
        return f"#{self.id} {when} {self.who} {what}{mark}"


def entry(row: AuditEntryRow) -> AuditEntry:
    return AuditEntry(
        id=row.id,
        at=row.at,
        actor=row.actor,
        actor_id=row.actor_id,
        verb=row.verb,
        post_id=row.post_id,
        before=row.before,
        after=row.after,
        undone=row.undone_by is not None,
    )


def _short(text: object, limit: int = 60) -> str:
    value = str(text)
    return value if len(value) <= limit else value[: limit - 1] + "…"


def describe(
    verb: str,
    post_id: int | None,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> str:
    """What an entry did, in words (the before/after JSON stays available in ``--json``)."""
    b, a = before or {}, after or {}
    post = f"post {post_id}" if post_id is not None else ""
    if verb == "add":
        return f"add {post}: {_short(a.get('text', ''))!r}"
    if verb == "edit":
        return f"edit {post}: {_short(b.get('text', ''))!r} -> {_short(a.get('text', ''))!r}"
    if verb in ("move", "top", "up", "down"):
        return f"{verb} {post}: position {b.get('position')} -> {a.get('position')}"
    if verb == "enqueue":
        count = len(a.get("posts", []))
        return f"enqueue {', '.join(a.get('issues', []))}: {count} new posts"
    if verb == "slots":
        return f"slots {_slots(b)} -> {_slots(a)}"
    if verb == "undo":
        undone = " ".join(part for part in (str(a.get("verb", "")), post) if part)
        return f"undo #{a.get('undoes')} ({undone})"
    if verb == "resume" and a.get("platform"):
        return f"resume {a['platform']}"
    if verb == "reschedule":
        return f"reschedule {post}: unsent deliveries due {a.get('due')}"
    if verb == "skip":
        return f"skip {post}: {a.get('skipped')} unsent deliveries given up"
    return f"{verb} {post}".rstrip()


def _slots(state: dict[str, Any]) -> str:
    times = ",".join(state.get("times") or [])
    days = ",".join(state.get("days") or [])
    source = "" if state.get("overridden") else " (config)"
    return f"{times} on {days}{source}"


class AuditService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def recent(self, limit: int = 20) -> list[AuditEntry]:
        """The newest ``limit`` entries (1..1000), newest first."""
        async with self._sessions() as session:
            rows = await repo.recent(session, max(1, min(limit, MAX_LIMIT)))
            return [entry(r) for r in rows]
