"""Subscriber repository: Telegram private chats, their settings and state. Never commits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import Select, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from bot.store.models import SUBSCRIBER_STATES, Subscriber

AudienceKind = Literal["paper", "digest"]
_WANTS: dict[AudienceKind, tuple[str, ...]] = {
    "paper": ("drip", "both"),
    "digest": ("digest", "both"),
}


@dataclass(frozen=True, slots=True)
class Recipient:
    chat_id: int
    quiet_start: str | None
    quiet_end: str | None
    timezone: str


async def audience(session: AsyncSession, kind: AudienceKind) -> list[Recipient]:
    """Active subscribers who want ``kind`` posts ("paper" = the drip), by chat id."""
    rows = await session.execute(
        select(
            Subscriber.chat_id, Subscriber.quiet_start, Subscriber.quiet_end, Subscriber.timezone
        )
        .where(Subscriber.state == "active", Subscriber.receive.in_(_WANTS[kind]))
        .order_by(Subscriber.chat_id)
    )
    return [Recipient(*row) for row in rows]


def _find(chat_id: int, for_update: bool) -> Select[Subscriber]:
    stmt = select(Subscriber).where(Subscriber.chat_id == chat_id)
    return stmt.with_for_update() if for_update else stmt


async def find(
    session: AsyncSession, chat_id: int, *, for_update: bool = False
) -> Subscriber | None:
    found: Subscriber | None = await session.scalar(_find(chat_id, for_update))
    return found


def find_sync(session: Session, chat_id: int, *, for_update: bool = False) -> Subscriber | None:
    """``find`` on a synchronous session (writes run in a worker thread)."""
    found: Subscriber | None = session.scalar(_find(chat_id, for_update))
    return found


def add(
    session: AsyncSession | Session, chat_id: int, *, language: str, timezone: str, now: datetime
) -> Subscriber:
    """A new, inactive subscriber with default settings (flushed with the session)."""
    row = Subscriber(
        chat_id=chat_id,
        language=language,
        receive="both",
        quiet_start=None,
        quiet_end=None,
        timezone=timezone,
        state="inactive",
        subscribed=False,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    return row


async def block(session: AsyncSession, chat_id: int, now: datetime) -> int:
    """Mark a known chat blocked (its subscription choice is kept); returns rows changed."""
    result = await session.execute(
        update(Subscriber)
        .where(Subscriber.chat_id == chat_id, Subscriber.state != "blocked")
        .values(state="blocked", updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def rekey(session: AsyncSession, old_chat_id: int, new_chat_id: int, now: datetime) -> None:
    """A group became a supergroup: its row moves to the new id. When the new id already has a
    row, that row is kept and the old one removed."""
    if await find(session, new_chat_id) is not None:
        await session.execute(delete(Subscriber).where(Subscriber.chat_id == old_chat_id))
        return
    await session.execute(
        update(Subscriber)
        .where(Subscriber.chat_id == old_chat_id)
        .values(chat_id=new_chat_id, updated_at=now)
        .execution_options(synchronize_session=False)
    )


async def state_counts(session: AsyncSession) -> dict[str, int]:
    """Subscribers per state; every state is present (0 when none)."""
    rows = await session.execute(select(Subscriber.state, func.count()).group_by(Subscriber.state))
    found = {state: int(n) for state, n in rows}
    return {state: found.get(state, 0) for state in SUBSCRIBER_STATES}
