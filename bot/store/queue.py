"""Queue and delivery-ledger repository. Never commits: services own the transactions.

The per-delivery ledger writes (claim, finish, force) are synchronous: the dispatcher runs each
in one worker-thread hop on the sync engine, three times cheaper than an async round trip.

Claims are compare-and-set UPDATEs (``... WHERE state = 'pending'``): exactly one worker wins
on SQLite (writes serialize) and on PostgreSQL (the row lock re-checks the WHERE clause). On
PostgreSQL the broadcaster's batches are first picked with ``FOR UPDATE SKIP LOCKED`` (a row
another transaction holds is skipped, never waited for) and claimed by one ``UPDATE ... FROM
unnest(...) RETURNING``, which names exactly the rows won.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import cast

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    DateTime,
    String,
    Table,
    Update,
    and_,
    bindparam,
    case,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
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


# PostgreSQL: how long a ledger lock (``telegram-pace``, ``x-budget``) is waited for before the
# write gives up (tried again, then "database busy"), and how long its holder may sit idle
# inside the transaction before the server ends its session (a frozen worker, a host gone
# without closing its connection: the lock comes free). A killed process's connection closes,
# and the server releases its locks at once.
LOCK_WAIT_MS = 5_000
LOCK_HOLD_IDLE_MS = 10_000


def take_lock_sync(session: Session, name: str, now: datetime) -> None:
    """:func:`take_lock` for the ledger's synchronous writes (short transactions, one thread
    hop each). On PostgreSQL the wait for the lock and the holder's idle time are bounded."""
    dialect = session.get_bind().dialect.name
    if dialect != "sqlite":
        session.execute(
            select(
                func.set_config("lock_timeout", str(LOCK_WAIT_MS), True),
                func.set_config(
                    "idle_in_transaction_session_timeout", str(LOCK_HOLD_IDLE_MS), True
                ),
            )
        )
    insert = sqlite_insert if dialect == "sqlite" else pg_insert
    stmt = insert(Setting).values(key=f"lock:{name}", value="", updated_at=now)
    session.execute(stmt.on_conflict_do_update(index_elements=["key"], set_={"updated_at": now}))


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


async def due_posts(
    session: AsyncSession, kind: str, now: datetime, limit: int | None = None
) -> list[Post]:
    """Queued posts of ``kind`` whose slot has come, soonest first (the idle tick reads none)."""
    stmt = (
        select(Post)
        .where(Post.state == "queued", Post.kind == kind, Post.slot <= now)
        .order_by(Post.slot, Post.rank, Post.id)
    )
    return list(await session.scalars(stmt if limit is None else stmt.limit(limit)))


MAX_ID = 2**63 - 1  # SQLite and PostgreSQL integer keys are 64-bit


async def get_post(session: AsyncSession, post_id: int) -> Post | None:
    if not 1 <= post_id <= MAX_ID:  # no post has it (and binding it would overflow)
        return None
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
    """Issues with a digest post that is not cancelled (a cancelled one blocks nothing)."""
    rows = await session.scalars(
        select(Post.issue_id).where(
            Post.kind == "digest", Post.state != "cancelled", Post.issue_id.in_(issue_ids)
        )
    )
    return {i for i in rows if i is not None}


async def digest_urls(session: AsyncSession, urls: Sequence[str]) -> set[str]:
    """URLs among ``urls`` already announced or queued by a digest post (that post may have
    lost its issue: ``issues rm`` keeps sent posts in the ledger)."""
    rows = await session.scalars(
        select(Post.url).where(Post.kind == "digest", Post.state != "cancelled", Post.url.in_(urls))
    )
    return {u for u in rows if u is not None}


async def max_rank(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.coalesce(func.max(Post.rank), 0))) or 0)


async def items_of_issues(session: AsyncSession, keys: Sequence[str]) -> list[tuple[Item, str]]:
    rows = await session.execute(
        select(Item, Issue.key)
        .join(Issue, Issue.id == Item.issue_id)
        .where(Issue.key.in_(keys))
        .options(selectinload(Item.paper))
        .order_by(Issue.start_date, Issue.kind.desc(), Issue.imported_at, Issue.id, Item.position)
    )
    return [(item, key) for item, key in rows]


async def issues_by_key(session: AsyncSession, keys: Sequence[str]) -> list[Issue]:
    """Issues with these keys, each key's languages in import order (first imported first)."""
    rows = await session.scalars(
        select(Issue).where(Issue.key.in_(keys)).order_by(Issue.imported_at, Issue.id)
    )
    return list(rows)


async def paper_by_identity(session: AsyncSession, identity: str) -> Paper | None:
    return await session.scalar(select(Paper).where(Paper.identity == identity))


# --- the ledger ---------------------------------------------------------------------------


@dataclass(slots=True)
class LedgerRow:
    """What the dispatcher needs of a delivery, read with plain SQL (no ORM object)."""

    id: int
    post_id: int
    destination: str
    state: str
    attempts: int
    duplicates: int

    @classmethod
    def of(cls, delivery: Delivery) -> LedgerRow:
        d = delivery
        return cls(d.id, d.post_id, d.destination, d.state, d.attempts, d.duplicates)


def _private_chat() -> ColumnElement[bool]:
    """A subscriber's private chat: ``telegram:<positive id>`` (not the channel, no group)."""
    return and_(
        Delivery.destination.startswith("telegram:"),
        Delivery.destination != "telegram:channel",
        ~Delivery.destination.startswith("telegram:-"),
    )


@dataclass(frozen=True, slots=True)
class Horizon:
    """Beyond these moments a wait or a lease cannot be ours: a run at a travelled ``--now``
    left it, and it counts as over."""

    wait: datetime
    lease: datetime


def _due(now: datetime, horizon: Horizon | None):  # type: ignore[no-untyped-def]
    pending = Delivery.due_at <= now
    expired = Delivery.lease_until < now
    if horizon is not None:
        pending = or_(pending, Delivery.due_at > horizon.wait)
        expired = or_(expired, Delivery.lease_until > horizon.lease)
    return and_(Delivery.state == "pending", pending), and_(Delivery.state == "sending", expired)


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
    session: AsyncSession,
    now: datetime,
    *,
    skip_prefixes: Sequence[str] = (),
    limit: int = 50,
    horizon: Horizon | None = None,
    skip_private: bool = False,
) -> list[Delivery]:
    """Pending deliveries that are due, and claimed ones whose lease ran out. ``skip_private``:
    not the pending ones to private chats (the broadcaster claims those in batches)."""
    stmt = select(Delivery).where(or_(*_due(now, horizon)))
    for prefix in skip_prefixes:
        stmt = stmt.where(~Delivery.destination.startswith(prefix))
    if skip_private:
        stmt = stmt.where(~and_(Delivery.state == "pending", _private_chat()))
    stmt = stmt.order_by(Delivery.due_at, Delivery.id).limit(limit)
    return list(await session.scalars(stmt))


def claim(
    session: Session,
    /,
    delivery: Delivery | LedgerRow,
    now: datetime,
    lease_until: datetime,
    reserve_usd: float | None = None,
    horizon: Horizon | None = None,
) -> bool:
    """Compare-and-set: True when this worker now owns the delivery. With ``reserve_usd`` (X)
    the claim also reserves the post against the daily cap and monthly budget: ``sent_at`` and
    ``cost_usd`` are set now and cleared again if the send does not happen."""
    pending, expired = _due(now, horizon)
    cond = expired if delivery.state == "sending" else pending
    values: dict[str, object] = {
        "state": "sending",
        "attempts": Delivery.attempts + 1,
        "lease_until": lease_until,
        "updated_at": now,
    }
    if reserve_usd is not None:
        values.update(sent_at=now, cost_usd=reserve_usd)
    result = session.execute(
        update(Delivery)
        .where(Delivery.id == delivery.id, cond)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def claimable(
    session: Session,
    /,
    delivery: Delivery | LedgerRow,
    now: datetime,
    horizon: Horizon | None = None,
) -> bool:
    """Whether :func:`claim` could take the delivery now (no other worker has it). On
    PostgreSQL the row is locked until the transaction ends; a row another transaction holds
    counts as taken (``SKIP LOCKED``: never waited for)."""
    pending, expired = _due(now, horizon)
    cond = expired if delivery.state == "sending" else pending
    stmt = select(Delivery.id).where(Delivery.id == delivery.id, cond)
    if session.get_bind().dialect.name != "sqlite":
        stmt = stmt.with_for_update(skip_locked=True)
    return session.scalar(stmt) is not None


def finish_delivery(session: Session, /, delivery_id: int, now: datetime, **values: object) -> None:
    """Write the outcome of a claimed delivery (only while it is still ours: state sending)."""
    session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.state == "sending")
        .values(updated_at=now, **values)
        .execution_options(synchronize_session=False)
    )


async def settle_posts(session: AsyncSession, now: datetime) -> list[int]:
    """Posts whose deliveries are all final become sent (any delivery sent) or failed. In SQL:
    a post broadcast to thousands of subscribers is settled without loading its rows."""
    open_rows = (
        select(Delivery.id)
        .where(Delivery.post_id == Post.id, Delivery.state.not_in(FINAL_DELIVERY))
        .exists()
    )
    any_sent = (
        select(Delivery.id).where(Delivery.post_id == Post.id, Delivery.state == "sent").exists()
    )
    any_row = select(Delivery.id).where(Delivery.post_id == Post.id).exists()
    rows = (
        await session.execute(
            select(Post.id, any_sent, any_row).where(Post.state == "sending", ~open_rows)
        )
    ).all()
    for post_id, sent, has_rows in rows:
        await session.execute(
            update(Post)
            .where(Post.id == post_id)
            .values(state="sent" if sent or not has_rows else "failed", updated_at=now)
            .execution_options(synchronize_session=False)
        )
    return [post_id for post_id, _, _ in rows]


async def create_timed_deliveries(
    session: AsyncSession, post_id: int, due: Sequence[tuple[str, datetime]], now: datetime
) -> None:
    """One pending delivery per (destination, due time): a broadcast's subscribers, each due
    when their quiet hours allow. An existing row is left alone."""
    rows = [
        {
            "post_id": post_id,
            "destination": destination,
            "state": "pending",
            "attempts": 0,
            "due_at": due_at,
            "duplicates": 0,
            "updated_at": now,
        }
        for destination, due_at in due
    ]
    if not rows:
        return
    # executemany of one cached statement (not a statement of thousands of literal rows)
    stmt = _insert(session)(_TABLE).on_conflict_do_nothing(
        index_elements=["post_id", "destination"]
    )
    await session.execute(stmt, rows)


def telegram_stamps(
    session: Session,
    since: datetime,
    until: datetime,
    *,
    destination: str | None = None,
) -> list[datetime]:
    """Claim stamps (``sent_at``) of Telegram deliveries sent or being sent in (since, until],
    oldest first: the pace every process keeps."""
    stmt = select(Delivery.sent_at).where(
        Delivery.state.in_(X_RESERVED), Delivery.sent_at > since, Delivery.sent_at <= until
    )
    if destination is None:
        stmt = stmt.where(Delivery.destination.startswith("telegram:"))
    else:
        stmt = stmt.where(Delivery.destination == destination)
    return sorted(stamp for stamp in session.scalars(stmt) if stamp is not None)


_TABLE = cast(Table, Delivery.__table__)
_ROW_COLUMNS = (
    Delivery.id,
    Delivery.post_id,
    Delivery.destination,
    Delivery.state,
    Delivery.attempts,
    Delivery.duplicates,
)


def due_private(
    session: Session, /, now: datetime, limit: int, horizon: Horizon | None = None
) -> list[LedgerRow]:
    """Due pending deliveries to private chats, oldest first (the broadcaster's next batch).
    On PostgreSQL they are locked until the transaction ends (``FOR UPDATE SKIP LOCKED``):
    rows another transaction holds are skipped, so a slow writer never stalls a claimer."""
    if session.get_bind().dialect.name == "sqlite":
        pending, _ = _due(now, horizon)
        stmt = (
            select(*_ROW_COLUMNS)
            .where(pending, _private_chat())
            .order_by(Delivery.due_at, Delivery.id)  # the (state, due_at) index ends in the id
            .limit(limit)
        )
        return [LedgerRow(*row) for row in session.execute(stmt)]
    # PostgreSQL: one range of the (state, due_at) index at a time, in its order (ties in the
    # order rows were written), so a batch reads its own rows and not the whole broadcast
    # (with the OR of the horizon and the id as a tie-break, every batch sorted all of them)
    rows = _locked_private(session, Delivery.due_at <= now, limit)
    if horizon is not None and len(rows) < limit:
        rows += _locked_private(session, Delivery.due_at > horizon.wait, limit - len(rows))
    return rows


def _locked_private(session: Session, due: ColumnElement[bool], limit: int) -> list[LedgerRow]:
    stmt = (
        select(*_ROW_COLUMNS)
        .where(Delivery.state == "pending", due, _private_chat())
        .order_by(Delivery.due_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return [LedgerRow(*row) for row in session.execute(stmt)]


async def soonest_group_wait(session: AsyncSession, now: datetime) -> datetime | None:
    """When the soonest pending delivery to the channel or a group that waits (its chat's
    limit) becomes due, if any does after ``now``."""
    stmt = select(func.min(Delivery.due_at)).where(
        Delivery.state == "pending",
        Delivery.due_at > now,
        or_(
            Delivery.destination == "telegram:channel",
            Delivery.destination.startswith("telegram:-"),
        ),
    )
    found: datetime | None = await session.scalar(stmt)
    return found


def pace_stamps(session: Session, /, since: datetime) -> list[tuple[datetime, int]]:
    """Slots granted to Telegram deliveries (sent or being sent) after ``since``, future ones
    included, oldest first, with their delivery ids."""
    stmt = select(Delivery.sent_at, Delivery.id).where(
        Delivery.state.in_(X_RESERVED),
        Delivery.sent_at > since,
        Delivery.destination.startswith("telegram:"),
    )
    return sorted((stamp, i) for stamp, i in session.execute(stmt) if stamp is not None)


def chat_stamps(
    session: Session, /, destinations: Sequence[str], since: datetime
) -> dict[str, list[datetime]]:
    """Per destination, its slots after ``since`` (sent or being sent), oldest first."""
    found: dict[str, list[datetime]] = {}
    unique = sorted(set(destinations))
    for start in range(0, len(unique), 500):
        rows = session.execute(
            select(Delivery.destination, Delivery.sent_at).where(
                Delivery.destination.in_(unique[start : start + 500]),
                Delivery.state.in_(X_RESERVED),
                Delivery.sent_at > since,
            )
        )
        for destination, stamp in rows:
            if stamp is not None:
                found.setdefault(destination, []).append(stamp)
    return {d: sorted(times) for d, times in found.items()}


def claim_slots(
    session: Session,
    /,
    claims: Sequence[tuple[LedgerRow, datetime]],
    lease_seconds: float,
    now: datetime,
    horizon: Horizon | None = None,
) -> list[tuple[LedgerRow, datetime]]:
    """Compare-and-set claims of many deliveries: each is stamped with its slot (``sent_at``)
    and leased from it. Returns those won. SQLite: one executemany per state (the claimer
    holds the write lock from its first statement, so every row it read as claimable is won).
    PostgreSQL: one ``UPDATE ... FROM unnest(ids, states, slots, leases) RETURNING``: the
    rows it returns are the ones won (a row another writer changed in between is never sent)."""
    if not claims:
        return []
    if session.get_bind().dialect.name != "sqlite":
        return _claim_slots_returning(session, claims, lease_seconds, now, horizon)
    pending, expired = _due(now, horizon)
    lease = timedelta(seconds=lease_seconds)
    for state, cond in (("pending", pending), ("sending", expired)):
        params = [
            {"b_id": row.id, "b_at": at, "b_lease": at + lease}
            for row, at in claims
            if row.state == state
        ]
        if not params:
            continue
        stmt = (
            update(_TABLE)
            .where(_TABLE.c.id == bindparam("b_id"), cond)
            .values(
                state="sending",
                attempts=_TABLE.c.attempts + 1,
                lease_until=bindparam("b_lease"),
                sent_at=bindparam("b_at"),
                cost_usd=0.0,
                updated_at=now,
            )
        )
        session.execute(stmt, params)
    return list(claims)


def _claim_slots_returning(
    session: Session,
    claims: Sequence[tuple[LedgerRow, datetime]],
    lease_seconds: float,
    now: datetime,
    horizon: Horizon | None,
) -> list[tuple[LedgerRow, datetime]]:
    # the claims travel as four arrays (one cached statement whatever the batch size: a VALUES
    # list of hundreds of rows costs more to compile than to run)
    pending, expired = _due(now, horizon)
    lease = timedelta(seconds=lease_seconds)

    def naive(moment: datetime) -> datetime:
        return moment.astimezone(UTC).replace(tzinfo=None)

    wanted = (
        func.unnest(
            bindparam("c_ids", type_=ARRAY(BigInteger)),
            bindparam("c_states", type_=ARRAY(String)),
            bindparam("c_ats", type_=ARRAY(DateTime())),
            bindparam("c_leases", type_=ARRAY(DateTime())),
        )
        .table_valued("c_id", "c_state", "c_at", "c_lease")
        .render_derived(name="claims")
    )
    stmt = (
        update(_TABLE)
        .where(
            _TABLE.c.id == wanted.c.c_id,
            _TABLE.c.state == wanted.c.c_state,
            or_(pending, expired),
        )
        .values(
            state="sending",
            attempts=_TABLE.c.attempts + 1,
            lease_until=wanted.c.c_lease,
            sent_at=wanted.c.c_at,
            cost_usd=0.0,
            updated_at=now,
        )
        .returning(_TABLE.c.id)
    )
    params = {
        "c_ids": [row.id for row, _ in claims],
        "c_states": [row.state for row, _ in claims],
        "c_ats": [naive(at) for _, at in claims],
        "c_leases": [naive(at + lease) for _, at in claims],
    }
    won = set(session.scalars(stmt, params))
    return [(row, at) for row, at in claims if row.id in won]


def finish_sent_many(
    session: Session, /, outcomes: Sequence[tuple[int, str | None, str | None]], now: datetime
) -> None:
    """Record many sends at once (executemany): (delivery id, remote id, note). The slot stays
    as ``sent_at``; only rows still claimed (state sending) are written."""
    if not outcomes:
        return
    table = _TABLE
    stmt = (
        update(table)
        .where(table.c.id == bindparam("b_id"), table.c.state == "sending")
        .values(
            state="sent",
            remote_id=bindparam("b_remote"),
            last_error=bindparam("b_note"),
            lease_until=None,
            cost_usd=None,
            updated_at=now,
        )
    )
    session.execute(
        stmt, [{"b_id": i, "b_remote": remote, "b_note": note} for i, remote, note in outcomes]
    )


def release_claims(
    session: Session, /, ids: Sequence[int], due_at: datetime, now: datetime
) -> None:
    """Claims never sent (a pause, a stop) go back to pending, due at ``due_at``: not an
    attempt, their slots freed."""
    if not ids:
        return
    table = _TABLE
    stmt = (
        update(table)
        .where(table.c.id == bindparam("b_id"), table.c.state == "sending")
        .values(
            state="pending",
            attempts=case((table.c.attempts > 0, table.c.attempts - 1), else_=0),
            lease_until=None,
            sent_at=None,
            cost_usd=None,
            due_at=due_at,
            updated_at=now,
        )
    )
    session.execute(stmt, [{"b_id": i} for i in ids])


def postpone_many(
    session: Session, /, waits: Sequence[tuple[int, datetime]], now: datetime
) -> None:
    """Pending deliveries that must wait (one chat's limit): (id, due at), executemany."""
    if not waits:
        return
    table = _TABLE
    stmt = (
        update(table)
        .where(table.c.id == bindparam("b_id"), table.c.state == "pending")
        .values(due_at=bindparam("b_due"), updated_at=now)
    )
    session.execute(stmt, [{"b_id": i, "b_due": due} for i, due in waits])


def rekey_chat(
    session: Session, /, old: str, new: str, delivery_id: int, now: datetime
) -> None:
    """A group chat became a supergroup: its open deliveries move to the new destination (one
    the new chat already has for the same post is kept, the old one cancelled); the delivery
    in hand goes back to pending, due now (resent to the new id, not an attempt)."""
    session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.state == "sending")
        .values(
            state="pending", due_at=now, lease_until=None, sent_at=None, cost_usd=None,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    taken = select(Delivery.post_id).where(Delivery.destination == new).scalar_subquery()
    session.execute(
        update(Delivery)
        .where(
            Delivery.destination == old,
            Delivery.state == "pending",
            Delivery.post_id.in_(taken),
        )
        .values(state="cancelled", last_error=f"chat migrated to {new}", updated_at=now)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(Delivery)
        .where(Delivery.destination == old, Delivery.state == "pending")
        .values(destination=new, updated_at=now)
        .execution_options(synchronize_session=False)
    )


def rekey_subscriber(session: Session, /, old_chat: int, new_chat: int, now: datetime) -> None:
    """The sync twin of the subscriber repository's ``rekey`` (the ledger's thread hop)."""
    from bot.store.models import Subscriber

    exists = session.scalar(select(Subscriber.chat_id).where(Subscriber.chat_id == new_chat))
    if exists is not None:
        session.execute(delete(Subscriber).where(Subscriber.chat_id == old_chat))
        return
    session.execute(
        update(Subscriber)
        .where(Subscriber.chat_id == old_chat)
        .values(chat_id=new_chat, updated_at=now)
        .execution_options(synchronize_session=False)
    )


async def broadcast_counts(session: AsyncSession, post_id: int) -> dict[str, int]:
    """Delivery states of a post's subscriber deliveries (private chats), with their counts."""
    rows = await session.execute(
        select(Delivery.state, func.count())
        .where(
            Delivery.post_id == post_id,
            Delivery.destination.startswith("telegram:"),
            Delivery.destination != "telegram:channel",
        )
        .group_by(Delivery.state)
    )
    return {state: int(count) for state, count in rows}


def cancel_chat(session: Session, /, destination: str, now: datetime, reason: str) -> int:
    """Every pending delivery to one chat is cancelled (the subscriber blocked the bot)."""
    result = session.execute(
        update(Delivery)
        .where(Delivery.destination == destination, Delivery.state == "pending")
        .values(state="cancelled", last_error=reason, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def block_subscriber(session: Session, /, chat_id: int, now: datetime) -> None:
    """The sync twin of the subscriber repository's ``block`` (the ledger's thread hop)."""
    from bot.store.models import Subscriber

    session.execute(
        update(Subscriber)
        .where(Subscriber.chat_id == chat_id, Subscriber.state != "blocked")
        .values(state="blocked", updated_at=now)
        .execution_options(synchronize_session=False)
    )


def _x_usage_stmt(  # type: ignore[no-untyped-def]
    day_start: datetime, month_start: datetime, until: datetime
):
    since = min(day_start, month_start)
    today = func.sum(case((Delivery.sent_at >= day_start, 1), else_=0))
    month = func.sum(case((Delivery.sent_at >= month_start, Delivery.cost_usd), else_=0.0))
    return select(func.coalesce(today, 0), func.coalesce(month, 0.0)).where(
        Delivery.destination == "x",
        Delivery.state.in_(X_RESERVED),
        Delivery.sent_at >= since,
        Delivery.sent_at < until,
    )


# X posts that count against the cap and budget: sent, and claimed (being sent, or whose
# outcome is unknown after a crash: they may have been posted)
X_RESERVED = ("sent", "sending")


async def x_usage(
    session: AsyncSession, day_start: datetime, month_start: datetime, until: datetime
) -> tuple[int, float]:
    """(X posts sent or reserved since ``day_start``, dollars since ``month_start``), both
    before ``until``."""
    row = (await session.execute(_x_usage_stmt(day_start, month_start, until))).one()
    return int(row[0]), float(row[1] or 0.0)


def reservation_sync(
    session: Session, /, delivery_id: int
) -> tuple[datetime | None, float | None]:
    """A claimed X delivery's reservation: (its stamp, its cost)."""
    row = session.execute(
        select(Delivery.sent_at, Delivery.cost_usd).where(
            Delivery.id == delivery_id, Delivery.state == "sending"
        )
    ).first()
    return (None, None) if row is None else (row[0], row[1])


def x_usage_sync(
    session: Session, day_start: datetime, month_start: datetime, until: datetime
) -> tuple[int, float]:
    row = session.execute(_x_usage_stmt(day_start, month_start, until)).one()
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


async def release_waits(session: AsyncSession, now: datetime) -> int:
    """Pending deliveries waiting for a later moment (back-off, rate limit) become due now."""
    result = await session.execute(
        update(Delivery)
        .where(Delivery.state == "pending", Delivery.due_at > now)
        .values(due_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def postpone(session: Session, /, delivery_id: int, due_at: datetime, now: datetime) -> None:
    """A claimed-but-not-sent or pending delivery waits until ``due_at`` (not an attempt)."""
    session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.state == "pending")
        .values(due_at=due_at, updated_at=now)
        .execution_options(synchronize_session=False)
    )


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
        .values(updated_at=now, lease_until=None, sent_at=None, cost_usd=None, **values)
        .execution_options(synchronize_session=False)
    )


async def retry_unsent(session: AsyncSession, post_id: int, now: datetime) -> int:
    """Parked, dead and failed deliveries of a post go back to pending (the maintainer's call)."""
    return await reschedule_unsent(session, post_id, now, now)


# --- reading: queue pages, status, history ------------------------------------------------

PROBLEM_DELIVERY = ("parked", "failed", "dead")


async def open_posts_page(session: AsyncSession, limit: int | None) -> list[Post]:
    """The first ``limit`` open posts (all when None), in :func:`open_posts` order."""
    stmt = (
        select(Post)
        .where(Post.state.in_(OPEN_POST))
        .options(selectinload(Post.deliveries), selectinload(Post.paper))
        .order_by(Post.slot.is_(None), Post.slot, Post.rank, Post.id)
    )
    if limit is not None:
        stmt = stmt.limit(limit)
    return list(await session.scalars(stmt))


async def count_open_posts(session: AsyncSession) -> int:
    stmt = select(func.count()).select_from(Post).where(Post.state.in_(OPEN_POST))
    return int(await session.scalar(stmt) or 0)


async def count_sent_posts(session: AsyncSession) -> int:
    """Posts delivered to at least one destination."""
    stmt = select(func.count(func.distinct(Delivery.post_id))).where(Delivery.state == "sent")
    return int(await session.scalar(stmt) or 0)


async def next_queued(session: AsyncSession, kind: str) -> Post | None:
    """The queued post of ``kind`` with the soonest slot."""
    return await session.scalar(
        select(Post)
        .where(Post.state == "queued", Post.kind == kind, Post.slot.is_not(None))
        .options(selectinload(Post.paper))
        .order_by(Post.slot, Post.rank, Post.id)
        .limit(1)
    )


async def waiting_deliveries(session: AsyncSession) -> dict[str, tuple[int, datetime | None]]:
    """Per destination: (released deliveries not yet final, the soonest time one is due)."""
    rows = await session.execute(
        select(Delivery.destination, func.count(), func.min(Delivery.due_at))
        .where(Delivery.state.in_(("pending", "sending")))
        .group_by(Delivery.destination)
    )
    return {dest: (int(n), due) for dest, n, due in rows}


async def problem_deliveries(session: AsyncSession, limit: int) -> tuple[list[Delivery], int]:
    """Parked, failed and dead deliveries, most recent first (at most ``limit``), and their
    number in all."""
    where = Delivery.state.in_(PROBLEM_DELIVERY)
    total = int(await session.scalar(select(func.count()).select_from(Delivery).where(where)) or 0)
    rows = await session.scalars(
        select(Delivery)
        .where(where)
        .order_by(Delivery.updated_at.desc(), Delivery.id.desc())
        .limit(limit)
    )
    return list(rows), total


async def sent_posts(session: AsyncSession, limit: int) -> list[tuple[Post, datetime]]:
    """Posts delivered to at least one destination, with the time of their latest delivery,
    newest first; their deliveries and paper are loaded."""
    last_sent = func.max(Delivery.sent_at).label("last_sent")
    sent = (
        select(Delivery.post_id, last_sent)
        .where(Delivery.state == "sent")
        .group_by(Delivery.post_id)
        .subquery()
    )
    rows = await session.execute(
        select(Post, sent.c.last_sent)
        .join(sent, sent.c.post_id == Post.id)
        .options(selectinload(Post.deliveries), selectinload(Post.paper))
        .order_by(sent.c.last_sent.desc(), Post.id.desc())
        .limit(limit)
    )
    return [(post, when) for post, when in rows]


# --- maintainer services (issue 8): paging, pick marks, one platform's waits ---------------


async def open_posts_window(session: AsyncSession, limit: int | None, offset: int) -> list[Post]:
    """Open posts in :func:`open_posts` order from ``offset``, at most ``limit``."""
    stmt = (
        select(Post)
        .where(Post.state.in_(OPEN_POST))
        .options(selectinload(Post.deliveries), selectinload(Post.paper))
        .order_by(Post.slot.is_(None), Post.slot, Post.rank, Post.id)
        .offset(max(0, offset))
    )
    if limit is not None:
        stmt = stmt.limit(limit)
    return list(await session.scalars(stmt))


async def picked_items(session: AsyncSession, item_ids: set[int]) -> set[int]:
    """The ids among ``item_ids`` of items marked as a pick of their issue."""
    if not item_ids:
        return set()
    rows = await session.scalars(select(Item.id).where(Item.id.in_(item_ids), Item.pick))
    return set(rows)


async def release_platform_waits(session: AsyncSession, platform: str, now: datetime) -> int:
    """:func:`release_waits` for one platform's destinations (``x`` or ``telegram``)."""
    where = (
        Delivery.destination == "x"
        if platform == "x"
        else Delivery.destination.startswith("telegram:")
    )
    result = await session.execute(
        update(Delivery)
        .where(Delivery.state == "pending", Delivery.due_at > now, where)
        .values(due_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def reschedule_unsent(
    session: AsyncSession, post_id: int, due_at: datetime, now: datetime
) -> int:
    """Parked, dead and failed deliveries of a post go back to pending, due at ``due_at``
    (the maintainer's Retry: now; Reschedule: the next free slot)."""
    result = await session.execute(
        update(Delivery)
        .where(Delivery.post_id == post_id, Delivery.state.in_(("parked", "dead", "failed")))
        .values(
            state="pending",
            due_at=due_at,
            attempts=0,
            lease_until=None,
            sent_at=None,
            cost_usd=None,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def skip_unsent(session: AsyncSession, post_id: int, now: datetime, reason: str) -> int:
    """Parked, dead, failed and pending deliveries of a post are given up (cancelled); one
    being sent right now is left to finish."""
    result = await session.execute(
        update(Delivery)
        .where(
            Delivery.post_id == post_id,
            Delivery.state.in_(("parked", "dead", "failed", "pending")),
        )
        .values(
            state="cancelled",
            last_error=reason,
            lease_until=None,
            sent_at=None,
            cost_usd=None,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def taken_slots(session: AsyncSession) -> set[datetime]:
    """Slots of queued posts (papers and digests)."""
    rows = await session.scalars(
        select(Post.slot).where(Post.state == "queued", Post.slot.is_not(None))
    )
    return {slot for slot in rows if slot is not None}
