"""Reply stamps: the moments at which replies (answers to commands, edits under a pressed
button, maintainer alerts) were let go, kept where the ledger's pace reads them.

The ledger's own sends are stamped in ``deliveries.sent_at``; everything else the bot sends
takes a row here, so that the broadcaster's planning counts it in the overall second and in
its chat's second (:mod:`bot.services.pace`). Rows are only needed for a minute (the group
limit's window) and are pruned as new ones are written (``prune``). No primary key: rows are
never addressed one by one, only read and deleted by time.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import BigInteger, Column, Index, Table, bindparam, delete, func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from bot.store.models import Base, Delivery, Setting
from bot.store.types import UTCDateTime

KEEP_SECONDS = 120.0  # more than the longest window (a group's minute) plus any slot ahead
# a reply's stamp is at most a few seconds ahead of its process's clock (it waits at most
# bot.telegram.replies.MAX_PACE_WAIT for it); one further ahead than this comes from a clock
# that runs ahead of the reader's (another machine, a test's simulated time): not counted
AHEAD_SECONDS = 30.0

reply_stamps = Table(
    "reply_stamps",
    Base.metadata,
    Column("chat_id", BigInteger, nullable=True),  # None: an inline message (no chat)
    Column("at", UTCDateTime(), nullable=False),
    Index("ix_reply_stamps_at", "at"),
    Index("ix_reply_stamps_chat_at", "chat_id", "at"),
)


def since(session: Session, /, moment: datetime, until: datetime) -> list[datetime]:
    """Every reply stamp after ``moment`` up to ``until`` (future ones included), oldest
    first. A stamp past ``until`` comes from a process whose clock runs ahead: it is not
    counted rather than holding every broadcast until that clock's moment."""
    stmt = select(reply_stamps.c.at).where(reply_stamps.c.at > moment, reply_stamps.c.at <= until)
    return sorted(session.scalars(stmt))


def of_chats(
    session: Session, /, chats: Sequence[int], moment: datetime, until: datetime
) -> dict[int, list[datetime]]:
    """Per chat, its reply stamps after ``moment`` up to ``until``, oldest first."""
    found: dict[int, list[datetime]] = {}
    unique = sorted(set(chats))
    for start in range(0, len(unique), 500):
        rows = session.execute(
            select(reply_stamps.c.chat_id, reply_stamps.c.at).where(
                reply_stamps.c.chat_id.in_(unique[start : start + 500]),
                reply_stamps.c.at > moment,
                reply_stamps.c.at <= until,
            )
        )
        for chat, at in rows:
            found.setdefault(chat, []).append(at)
    return {chat: sorted(times) for chat, times in found.items()}


def prune(session: Session, /, before: datetime) -> int:
    """Forget stamps older than ``before`` (no window reaches back that far)."""
    result = session.execute(delete(reply_stamps).where(reply_stamps.c.at < before))
    return int(getattr(result, "rowcount", 0) or 0)


# a reply's transaction runs these few statements, built once (building a statement costs
# SQLAlchemy more CPU than SQLite takes to run it)
_LEDGER = select(Delivery.destination, Delivery.sent_at).where(
    Delivery.sent_at > bindparam("since", type_=UTCDateTime()),
    Delivery.state.in_(("sent", "sending")),
    Delivery.destination.startswith("telegram:"),
)
_REPLIES = select(reply_stamps.c.chat_id, reply_stamps.c.at).where(
    reply_stamps.c.at > bindparam("since", type_=UTCDateTime())
)
_ADD = insert(reply_stamps)
_LOCK_VALUES = {"key": bindparam("key"), "value": "", "updated_at": bindparam("now")}
_LOCKS = {
    "sqlite": sqlite_insert(Setting)
    .values(_LOCK_VALUES)
    .on_conflict_do_update(index_elements=["key"], set_={"updated_at": bindparam("now")}),
    "postgresql": pg_insert(Setting)
    .values(_LOCK_VALUES)
    .on_conflict_do_update(index_elements=["key"], set_={"updated_at": bindparam("now")}),
}
_PG_TIMEOUTS = select(
    func.set_config("lock_timeout", bindparam("wait"), True),
    func.set_config("idle_in_transaction_session_timeout", bindparam("idle"), True),
)


def lock(session: Session, /, name: str, now: datetime, wait_ms: int, idle_ms: int) -> None:
    """``bot.store.queue.take_lock_sync``'s lock row with statements built once."""
    dialect = session.get_bind().dialect.name
    if dialect != "sqlite":
        session.execute(_PG_TIMEOUTS, {"wait": str(wait_ms), "idle": str(idle_ms)})
    session.execute(_LOCKS.get(dialect, _LOCKS["postgresql"]), {"key": f"lock:{name}", "now": now})


def ledger_since(session: Session, /, moment: datetime) -> list[tuple[str, datetime]]:
    """The ledger's Telegram slots (sent or being sent) after ``moment``, with their
    destinations: one range of the ``sent_at`` index (a reply reads a second or two of them;
    reading one destination's slots instead would scan every delivery: ``destination`` leads
    no index)."""
    return [(d, at) for d, at in session.execute(_LEDGER, {"since": moment}) if at is not None]


def replies_since(session: Session, /, moment: datetime) -> list[tuple[int | None, datetime]]:
    """Every reply stamp after ``moment`` with its chat (one range of the ``at`` index)."""
    return [(chat, at) for chat, at in session.execute(_REPLIES, {"since": moment})]


def add(session: Session, /, stamps: Sequence[tuple[int | None, datetime]]) -> None:
    """Write reply stamps: (chat, moment) each (executemany)."""
    if stamps:
        session.execute(_ADD, [{"chat_id": c, "at": at} for c, at in stamps])
