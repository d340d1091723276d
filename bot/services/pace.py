"""Telegram's limits, kept in the database so that every process sees them.

Each Telegram claim stamps its delivery's ``sent_at`` with the slot it was granted (cleared
again if the send does not happen), in the transaction that reads the slots already granted,
under the ``telegram-pace`` lock row. Slots may lie a little in the future (a batch is
reserved at once, then sent as each slot comes): a later claim, by this process or another
(``run`` beside ``dispatch --once``), is granted slots after them. So however many processes
send at once, Telegram gets at most ``per_second`` messages a second overall, one a second per
chat and ``group_per_minute`` a minute per group or channel (see :mod:`bot.domain.send_slots`).

The lock serialises the reserving transactions of every process (four workers were measured
to keep the limits between them: ``tests/integration/test_workers_pg.py``). It never waits on
a delivery row: on PostgreSQL the batch is picked ``FOR UPDATE SKIP LOCKED``. Its wait and its
holder's idle time are bounded (:data:`bot.store.queue.LOCK_WAIT_MS`, ``LOCK_HOLD_IDLE_MS``),
and a worker killed while holding it loses its connection, which frees it at once.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from bot.domain.send_slots import Grant, Limits, Request, plan_slots
from bot.publish.base import CHANNEL
from bot.store import queue as repo
from bot.store.queue import LedgerRow

# a claim is stamped a moment before Telegram receives the request, and that moment varies:
# windows a little longer than Telegram's keep a late arrival from making a burst
MARGIN = timedelta(milliseconds=40)
# another process sends too: its sends' wobble adds to ours, and neither sees the other's
SHARED_MARGIN = timedelta(milliseconds=100)


@dataclass(slots=True)
class Reservation:
    """What one reserving transaction did: deliveries claimed with their slot, deliveries
    whose chat must wait (postponed to that moment), deliveries another worker has."""

    claimed: list[tuple[LedgerRow, datetime]] = field(default_factory=list)
    waiting: list[tuple[LedgerRow, datetime]] = field(default_factory=list)
    lost: list[LedgerRow] = field(default_factory=list)
    shared: bool = False  # another process holds recent slots: it sends too


def is_group(destination: str) -> bool:
    """The channel and groups (negative chat ids) have the per-minute limit."""
    if destination == CHANNEL:
        return True
    tail = destination.split(":", 1)[1]
    return tail.startswith("-") or not tail.lstrip("-").isdigit()


class TelegramPace:
    def __init__(
        self, per_second: int = 30, chat_per_second: int = 1, group_per_minute: int = 20
    ) -> None:
        self.limits = Limits(per_second, chat_per_second, group_per_minute, MARGIN)
        self.shared = Limits(per_second, chat_per_second, group_per_minute, SHARED_MARGIN)

    @property
    def per_second(self) -> int:
        return self.limits.per_second

    def reserve(
        self,
        session: Session,
        /,
        now: datetime,
        lease_seconds: float,
        *,
        rows: Sequence[LedgerRow] | None = None,
        limit: int = 0,
        horizon: repo.Horizon | None = None,
        own: Collection[int] = (),
    ) -> Reservation:
        """In one transaction: lock, take ``rows`` (those still claimable) or the next
        ``limit`` due private-chat deliveries, grant each a slot, claim them (stamped with
        their slot, leased from it). A chat whose own limit says wait is postponed to then;
        the others go on. ``own``: the deliveries this run claimed; a recent slot of any
        other means another process is sending, and the windows widen."""
        repo.take_lock_sync(session, "telegram-pace", now)
        result = Reservation()
        if rows is None:
            candidates = repo.due_private(session, now, limit, horizon)
        else:
            candidates = []
            for row in rows:
                if repo.claimable(session, row, now, horizon):
                    candidates.append(row)
                else:
                    result.lost.append(row)
        if not candidates:
            return result
        recent = repo.pace_stamps(session, now - self.shared.second)
        result.shared = any(i not in own for _, i in recent)
        limits = self.shared if result.shared else self.limits
        overall = [stamp for stamp, _ in recent if stamp > now - limits.second]
        chats = repo.chat_stamps(session, [r.destination for r in candidates], now - limits.minute)
        grants: list[Grant] = plan_slots(
            now,
            overall,
            chats,
            [Request(r.destination, is_group(r.destination)) for r in candidates],
            limits,
        )
        wanted: list[tuple[LedgerRow, datetime]] = []
        for row, grant in zip(candidates, grants, strict=True):
            if grant.at is not None:
                wanted.append((row, grant.at))
            else:
                assert grant.chat_wait is not None
                result.waiting.append((row, grant.chat_wait))
        waits = [(row.id, due) for row, due in result.waiting if row.state == "pending"]
        repo.postpone_many(session, waits, now)
        result.claimed = repo.claim_slots(session, wanted, lease_seconds, now, horizon)
        won = {row.id for row, _ in result.claimed}
        result.lost.extend(row for row, _ in wanted if row.id not in won)
        return result
