"""Audit log repository (issue 8). Never commits: the queue service writes an entry in the same
transaction as the change it describes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.models import AuditEntryRow

ACTOR_CHARS = 160
NOT_UNDOABLE = ("undo", "retry", "reschedule", "skip")  # deliveries changed: recorded only


async def record(
    session: AsyncSession,
    *,
    at: datetime,
    actor: str,
    actor_id: int | None,
    verb: str,
    post_id: int | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEntryRow:
    row = AuditEntryRow(
        at=at,
        actor=actor[:ACTOR_CHARS],
        actor_id=actor_id,
        verb=verb,
        post_id=post_id,
        before=before,
        after=after,
    )
    session.add(row)
    await session.flush()
    return row


async def recent(session: AsyncSession, limit: int) -> list[AuditEntryRow]:
    """The newest ``limit`` entries, newest first."""
    rows = await session.scalars(
        select(AuditEntryRow).order_by(AuditEntryRow.id.desc()).limit(max(0, limit))
    )
    return list(rows)


async def last_undoable(session: AsyncSession) -> AuditEntryRow | None:
    """The newest change that can be undone and was not undone yet (undo entries and changes
    to deliveries -- retry, reschedule, skip -- are recorded but not undone)."""
    return await session.scalar(
        select(AuditEntryRow)
        .where(AuditEntryRow.verb.not_in(NOT_UNDOABLE), AuditEntryRow.undone_by.is_(None))
        .order_by(AuditEntryRow.id.desc())
        .limit(1)
    )


async def mark_undone(session: AsyncSession, entry_id: int, undo_id: int) -> None:
    await session.execute(
        update(AuditEntryRow)
        .where(AuditEntryRow.id == entry_id)
        .values(undone_by=undo_id)
        .execution_options(synchronize_session=False)
    )
