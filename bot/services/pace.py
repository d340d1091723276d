"""Telegram's limits, kept in the database so that every process sees them.

Each Telegram claim stamps its delivery's ``sent_at`` (cleared again if the send does not
happen) in the same transaction that checks the recent stamps, under the ``telegram-pace``
lock row: however many processes send at once (``run`` beside ``dispatch --once``), Telegram
gets at most ``per_second`` messages a second overall, one a second per chat and
``group_per_minute`` a minute per group or channel.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from bot.publish.base import CHANNEL
from bot.store import queue as repo
from bot.store.models import Delivery

# a claim is stamped a moment before Telegram receives the request, and that moment varies:
# windows a little longer than Telegram's keep a late arrival from making a burst
MARGIN = timedelta(milliseconds=50)
SECOND = timedelta(seconds=1) + MARGIN
MINUTE = timedelta(minutes=1) + MARGIN


@dataclass(frozen=True, slots=True)
class PaceVerdict:
    claimed: bool
    wait: float = 0.0  # seconds until a send may go
    whole_platform: bool = False  # the overall limit (every chat waits), not one chat's


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
        self.per_second = per_second
        self.chat_per_second = chat_per_second
        self.group_per_minute = group_per_minute

    def claim(
        self,
        session: Session,
        /,
        delivery: Delivery,
        now: datetime,
        lease_until: datetime,
        horizon: repo.Horizon | None = None,
    ) -> PaceVerdict:
        repo.take_lock_sync(session, "telegram-pace", now)
        if not repo.claimable(session, delivery, now, horizon):
            return PaceVerdict(False)  # another worker has it
        second = now - SECOND
        overall = repo.telegram_stamps(session, second, now)
        if len(overall) >= self.per_second:
            wait = overall[-self.per_second] + SECOND - now
            return PaceVerdict(False, max(0.01, wait.total_seconds()), True)
        destination = delivery.destination
        mine = repo.telegram_stamps(session, second, now, destination=destination)
        if len(mine) >= self.chat_per_second:
            wait = mine[-self.chat_per_second] + SECOND - now
            return PaceVerdict(False, max(0.01, wait.total_seconds()))
        if is_group(destination):
            minute = repo.telegram_stamps(
                session, now - MINUTE, now, destination=destination
            )
            if len(minute) >= self.group_per_minute:
                wait = minute[-self.group_per_minute] + MINUTE - now
                return PaceVerdict(False, max(0.01, wait.total_seconds()))
        won = repo.claim(session, delivery, now, lease_until, reserve_usd=0.0, horizon=horizon)
        return PaceVerdict(won)
