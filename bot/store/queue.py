"""Queue and delivery-ledger repository. Never commits: services own the transactions.

The per-delivery ledger writes (claim, finish, force) are synchronous: the dispatcher runs each
in one worker-thread hop on the sync engine, three times cheaper than an async round trip.

Claims are compare-and-set UPDATEs (``... WHERE state = 'pending'``): exactly one worker wins
on SQLite (writes serialize) and on PostgreSQL (the row lock re-checks the WHERE clause).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Update, and_, case, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, selectinload

from bot.store.models import Delivery, Issue, Item, Paper, Post, Setting

FINAL_DELIVERY = ("sent", "failed", "dead", "cancelled")
OPEN_POST = ("queued", "sending")


def _insert(session: AsyncSession):  # type: ignore[no-untyped-def]
    return sqlite_insert if session.get_bind().dialect.name == "sqlite" else pg_insert


async def take_lock(session: AsyncSession, name: str, now: datetime) -> None:
    """Serialize a transaction against others taking the same lock (first statement: a write)."""
    stmt = _insert(session)(Setting).values(key=f"lock:{name}", value="", updated_at=now)
    stmt = stmt.on_conflict_do_update(index_elements=["key"], set_={"updated_at": now})
    await session.execute(stmt)


async def get_state(session: AsyncSession, key: str) -> str | None:
    return await session.scalar(select(Setting.value).where(Setting.key == key))


async def set_state(session: AsyncSession, key: str, value: str | None, now: datetime) -> None:
    if value is None:
        await session.execute(delete(Setting).where(Setting.key == key))
        return
    stmt = _insert(session)(Setting).values(key=key, value=value, updated_at=now)
    stmt = stmt.on_conflict_do_update(
        index_elements=["key"], set_={"value": value, "updated_at": now}
    )
    await session.execute(stmt)


async def open_posts(session: AsyncSession) -> list[Post]:
    """Queued and sending posts: digests and papers, soonest first."""
    rows = await session.scalars(
        select(Post)
        .where(Post.state.in_(OPEN_POST))
        .options(selectinload(Post.deliveries), selectinload(Post.paper))
        .order_by(Post.slot.is_(None), Post.slot, Post.rank, Post.id)
    )
    return list(rows)


async def queued_papers(session: AsyncSession) -> list[Post]:
    rows = await session.scalars(
        select(Post)
        .where(Post.state == "queued", Post.kind == "paper")
        .order_by(Post.rank, Post.id)
    )
    return list(rows)


async def queued_digests(session: AsyncSession) -> list[Post]:
    rows = await session.scalars(
        select(Post).where(Post.state == "queued", Post.kind == "digest").order_by(Post.slot)
    )
    return list(rows)


async def get_post(session: AsyncSession, post_id: int) -> Post | None:
    return await session.get(
        Post, post_id, options=[selectinload(Post.deliveries), selectinload(Post.paper)]
    )


async def live_paper_ids(session: AsyncSession) -> set[str]:
    """Paper identities already queued, sending or posted (never queue them again)."""
    rows = await session.scalars(
        select(Paper.identity)
        .join(Post, Post.paper_id == Paper.id)
        .where(Post.kind == "paper", Post.state != "cancelled")
    )
    return set(rows)


async def issues_with_digest(session: AsyncSession, issue_ids: Sequence[int]) -> set[int]:
    rows = await session.scalars(
        select(Post.issue_id).where(Post.kind == "digest", Post.issue_id.in_(issue_ids))
    )
    return {i for i in rows if i is not None}


async def max_rank(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.coalesce(func.max(Post.rank), 0))) or 0)


async def items_of_issues(session: AsyncSession, keys: Sequence[str]) -> list[tuple[Item, str]]:
    rows = await session.execute(
        select(Item, Issue.key)
        .join(Issue, Issue.id == Item.issue_id)
        .where(Issue.key.in_(keys))
        .options(selectinload(Item.paper))
        .order_by(Issue.start_date, Issue.kind.desc(), Item.position)
    )
    return [(item, key) for item, key in rows]


async def issues_by_key(session: AsyncSession, keys: Sequence[str]) -> list[Issue]:
    rows = await session.scalars(select(Issue).where(Issue.key.in_(keys)))
    return list(rows)


async def paper_by_identity(session: AsyncSession, identity: str) -> Paper | None:
    return await session.scalar(select(Paper).where(Paper.identity == identity))


# --- the ledger ---------------------------------------------------------------------------


async def create_deliveries(
    session: AsyncSession, post_id: int, destinations: Sequence[str], now: datetime
) -> None:
    if not destinations:
        return
    rows = [
        {
            "post_id": post_id,
            "destination": d,
            "state": "pending",
            "attempts": 0,
            "due_at": now,
            "duplicates": 0,
            "updated_at": now,
        }
        for d in destinations
    ]
    stmt = _insert(session)(Delivery).values(rows)
    await session.execute(stmt.on_conflict_do_nothing(index_elements=["post_id", "destination"]))


async def due_deliveries(
    session: AsyncSession, now: datetime, *, skip_prefixes: Sequence[str] = (), limit: int = 50
) -> list[Delivery]:
    """Pending deliveries that are due, and claimed ones whose lease ran out."""
    cond = or_(
        and_(Delivery.state == "pending", Delivery.due_at <= now),
        and_(Delivery.state == "sending", Delivery.lease_until < now),
    )
    stmt = select(Delivery).where(cond)
    for prefix in skip_prefixes:
        stmt = stmt.where(~Delivery.destination.startswith(prefix))
    stmt = stmt.order_by(Delivery.due_at, Delivery.id).limit(limit)
    return list(await session.scalars(stmt))


def claim(session: Session, /, delivery: Delivery, now: datetime, lease_until: datetime) -> bool:
    """Compare-and-set: True when this worker now owns the delivery."""
    expired = delivery.state == "sending"
    cond = (
        and_(Delivery.state == "sending", Delivery.lease_until < now)
        if expired
        else and_(Delivery.state == "pending", Delivery.due_at <= now)
    )
    values: dict[str, object] = {
        "state": "sending",
        "attempts": Delivery.attempts + 1,
        "lease_until": lease_until,
        "updated_at": now,
    }
    result = session.execute(
        update(Delivery)
        .where(Delivery.id == delivery.id, cond)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def finish_delivery(session: Session, /, delivery_id: int, now: datetime, **values: object) -> None:
    """Write the outcome of a claimed delivery (only while it is still ours: state sending)."""
    session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.state == "sending")
        .values(updated_at=now, **values)
        .execution_options(synchronize_session=False)
    )


async def settle_posts(session: AsyncSession, now: datetime) -> list[int]:
    """Posts whose deliveries are all final become sent (any delivery sent) or failed."""
    sending = list(
        await session.scalars(
            select(Post).where(Post.state == "sending").options(selectinload(Post.deliveries))
        )
    )
    settled = []
    for post in sending:
        states = [d.state for d in post.deliveries]
        if all(s in FINAL_DELIVERY for s in states):
            post.state = "sent" if "sent" in states or not states else "failed"
            post.updated_at = now
            settled.append(post.id)
    return settled


async def x_usage(
    session: AsyncSession, day_start: datetime, month_start: datetime
) -> tuple[int, float]:
    """(posts sent to X since ``day_start``, dollars spent on X since ``month_start``)."""
    since = min(day_start, month_start)
    today = func.sum(case((Delivery.sent_at >= day_start, 1), else_=0))
    month = func.sum(case((Delivery.sent_at >= month_start, Delivery.cost_usd), else_=0.0))
    row = (
        await session.execute(
            select(func.coalesce(today, 0), func.coalesce(month, 0.0)).where(
                Delivery.destination == "x", Delivery.state == "sent", Delivery.sent_at >= since
            )
        )
    ).one()
    return int(row[0]), float(row[1] or 0.0)


async def ledger_rows(
    session: AsyncSession, post_ids: Sequence[int] | None = None
) -> list[Delivery]:
    stmt = select(Delivery).order_by(Delivery.post_id, Delivery.destination)
    if post_ids is not None:
        stmt = stmt.where(Delivery.post_id.in_(post_ids))
    return list(await session.scalars(stmt))


async def issue_keys(session: AsyncSession, issue_ids: set[int]) -> dict[int, str]:
    if not issue_ids:
        return {}
    rows = await session.execute(select(Issue.id, Issue.key).where(Issue.id.in_(issue_ids)))
    return {issue_id: key for issue_id, key in rows}


def postpone_stmt(delivery_id: int, due_at: datetime, now: datetime) -> Update:
    return (
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.state == "pending")
        .values(due_at=due_at, updated_at=now)
        .execution_options(synchronize_session=False)
    )


def force_delivery_state(
    session: Session, /, delivery_id: int, now: datetime, **values: object
) -> None:
    """Set a final state whatever the current one (not for rows that are already sent)."""
    session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.state != "sent")
        .values(updated_at=now, lease_until=None, **values)
        .execution_options(synchronize_session=False)
    )


async def retry_unsent(session: AsyncSession, post_id: int, now: datetime) -> int:
    """Parked, dead and failed deliveries of a post go back to pending (the maintainer's call)."""
    result = await session.execute(
        update(Delivery)
        .where(Delivery.post_id == post_id, Delivery.state.in_(("parked", "dead", "failed")))
        .values(state="pending", due_at=now, attempts=0, lease_until=None, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
