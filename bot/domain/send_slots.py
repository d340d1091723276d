"""Send slots under Telegram's limits: when each message may leave (pure, no I/O).

Telegram counts messages by the moment they arrive: at most ``per_second`` in any second
overall, ``chat_per_second`` per chat and ``group_per_minute`` a minute per group or channel.
A slot is granted on our side, a little before arrival, and arrivals wobble: the windows here
are longer than Telegram's by ``margin``, and consecutive slots are spaced evenly (``second /
per_second`` apart) so that no burst is ever sent; a burst is what turns a late send into a
broken window. Slots are granted after every slot already granted (by any process, read from
the database), never between them.
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class Limits:
    per_second: int = 30
    chat_per_second: int = 1
    group_per_minute: int = 20
    margin: timedelta = timedelta(milliseconds=50)
    # more room around one chat's messages (replies: a late arrival must not meet a drip post)
    chat_margin: timedelta = timedelta(0)

    @property
    def second(self) -> timedelta:
        return timedelta(seconds=1) + self.margin

    @property
    def chat_second(self) -> timedelta:
        """One chat's window: the second, plus ``chat_margin``."""
        return self.second + self.chat_margin

    @property
    def minute(self) -> timedelta:
        return timedelta(minutes=1) + self.margin

    @property
    def spacing(self) -> timedelta:
        """The gap between two consecutive slots overall."""
        return self.second / self.per_second


@dataclass(frozen=True, slots=True)
class Request:
    destination: str
    group: bool = False  # a group or channel: the per-minute limit applies too


@dataclass(frozen=True, slots=True)
class Grant:
    """``at``: the slot (the message may leave then); otherwise ``chat_wait``: this chat must
    wait until then, and only this chat (no slot is used)."""

    at: datetime | None = None
    chat_wait: datetime | None = None


def plan_slots(
    now: datetime,
    overall: Sequence[datetime],
    chats: Mapping[str, Sequence[datetime]],
    requests: Sequence[Request],
    limits: Limits,
) -> list[Grant]:
    """One grant per request, in order. ``overall``: the slots already granted to every chat
    from ``now - limits.second`` on (future ones included); ``chats``: those of the requested
    destinations from ``now - limits.minute`` on. Neither needs to be sorted."""
    stamps = sorted(overall)
    mine = {dest: sorted(times) for dest, times in chats.items()}
    grants: list[Grant] = []
    n = limits.per_second
    for request in requests:
        at = now
        if stamps:
            at = max(at, stamps[-1] + limits.spacing)
        if len(stamps) >= n:
            at = max(at, stamps[-n] + limits.second)
        times = mine.setdefault(request.destination, [])
        chat_at = now
        if len(times) >= limits.chat_per_second:
            chat_at = max(chat_at, times[-limits.chat_per_second] + limits.chat_second)
        if request.group and len(times) >= limits.group_per_minute:
            chat_at = max(chat_at, times[-limits.group_per_minute] + limits.minute)
        if chat_at > at:
            grants.append(Grant(chat_wait=chat_at))
            continue
        stamps.append(at)
        times.append(at)
        grants.append(Grant(at=at))
    return grants


class LaunchGate:
    """The same limit checked once more where sends leave this process. Launches: no more than
    ``per_second`` in any ``window``, and evenly spaced (``window / per_second`` apart), so a
    run that fell behind its slots catches up a little faster than the slots, never in a burst.
    Answers: a send whose round trip took longer than the
    quickest one probably arrived late by that much (a stalled connection or server), so the
    send ``per_second`` places after it is held until a ``window`` after that late arrival,
    when it was later than ``tolerance`` (less is absorbed by the slots' own margin).
    ``window`` is Telegram's second plus a little for the network."""

    def __init__(
        self, per_second: int, window: timedelta, tolerance: timedelta = timedelta(0)
    ) -> None:
        self._n = per_second
        self._tolerance = tolerance
        self._window = window
        self._spacing = window / per_second
        self._launches: list[datetime] = []
        self._count = 0  # launches so far
        self._quickest: timedelta | None = None
        self._holds: list[tuple[int, datetime]] = []  # (launch number, not before): a heap
        self._not_before: datetime | None = None

    def wait_until(self, moment: datetime) -> datetime:
        """The earliest moment from ``moment`` on at which the next send may leave."""
        while self._holds and self._holds[0][0] <= self._count:
            _, hold = heapq.heappop(self._holds)
            self._not_before = max(self._not_before or hold, hold)
        if self._not_before is not None:
            moment = max(moment, self._not_before)
        if self._launches:
            moment = max(moment, self._launches[-1] + self._spacing)
        if len(self._launches) < self._n:
            return moment
        return max(moment, self._launches[-self._n] + self._window)

    def record(self, moment: datetime) -> int:
        """A send leaves at ``moment`` (the one :meth:`wait_until` gave); returns its number
        (for :meth:`answered`)."""
        self._launches.append(moment)
        if len(self._launches) > 2 * self._n:
            del self._launches[: -self._n]
        self._count += 1
        return self._count - 1

    def answered(self, number: int, launched: datetime, answered: datetime) -> None:
        """Send ``number`` (left at ``launched``) was answered at ``answered``."""
        trip = answered - launched
        if self._quickest is None or trip < self._quickest:
            self._quickest = trip
            return
        late = trip - self._quickest
        if late > self._tolerance:
            heapq.heappush(self._holds, (number + self._n, launched + late + self._window))


# --- replies: one budget with the ledger's sends ------------------------------------------
#
# A reply (an answer to a command, an edit under a pressed button, an alert) takes a slot in
# the same windows as the ledger's sends, but it is not planned after them: a person waits for
# it. It may leave *between* slots already granted, at the earliest moment from ``now`` on at
# which every window that contains it still has room. The ledger's planning, in turn, counts
# the reply stamps and keeps ``reply_headroom`` slots a second free while replies are coming.

REPLY_HOT = timedelta(seconds=10)  # replies this recent: the ledger keeps headroom for more
_AFTER = timedelta(microseconds=1)  # just past a window's (closed) end


def _fits(stamps: Sequence[datetime], at: datetime, window: timedelta, limit: int) -> bool:
    """Whether one more stamp at ``at`` keeps at most ``limit`` in every window of length
    ``window`` that contains it. ``stamps`` sorted. Windows are taken closed (a stamp on an
    edge counts): a little stricter than Telegram's, never looser."""
    if limit <= 0:
        return False
    low = bisect.bisect_left(stamps, at - window)
    high = bisect.bisect_right(stamps, at + window)
    near = stamps[low:high]
    if len(near) < limit:
        return True
    # a window containing ``at`` starts in [at - window, at]: the most it holds is at either
    # end of that range, or starting at a stamp in between
    starts = [at - window, at, *(t for t in near if t < at)]
    for start in starts:
        inside = bisect.bisect_right(near, start + window) - bisect.bisect_left(near, start)
        if inside >= limit:
            return False
    return True


def reply_slot(
    now: datetime,
    overall: Sequence[datetime],
    chat: Sequence[datetime],
    limits: Limits,
    *,
    group: bool = False,
) -> datetime:
    """The earliest moment from ``now`` on at which one reply may leave. ``overall``: every
    slot and reply stamp from ``now - limits.second`` on (future ones included); ``chat``:
    this chat's from ``now - limits.minute`` on (``group``: the per-minute limit too; its
    second is ``limits.chat_second``).
    Neither needs to be sorted. A moment only stops fitting when a stamp enters one of its
    windows, and starts fitting when one leaves: the candidates are ``now`` and each stamp's
    window end."""
    stamps = sorted(overall)
    mine = sorted(chat)
    candidates = {now}
    candidates.update(t + limits.second + _AFTER for t in stamps if t + limits.second >= now)
    gap = limits.chat_second
    candidates.update(t + gap + _AFTER for t in mine if t + gap >= now)
    if group:
        candidates.update(t + limits.minute + _AFTER for t in mine if t + limits.minute >= now)
    for at in sorted(candidates):
        if not _fits(mine, at, gap, limits.chat_per_second):
            continue
        if group and not _fits(mine, at, limits.minute, limits.group_per_minute):
            continue
        if _fits(stamps, at, limits.second, limits.per_second):
            return at
    raise AssertionError("unreachable: the last candidate has every stamp behind it")


def reply_headroom(replies: Sequence[datetime], now: datetime, limits: Limits) -> int:
    """Slots a second the ledger leaves free for replies: a tenth of the overall limit (at
    least one) while replies came in the last :data:`REPLY_HOT`, none otherwise (a broadcast
    nobody talks through goes at the full pace)."""
    if not any(t > now - REPLY_HOT for t in replies):
        return 0
    return max(1, limits.per_second // 10)
