"""Per-user flood limit: pure, driven by the caller's clock (seconds as floats).

Each user may send ``limit`` updates per sliding ``window``. The first update beyond it is
answered once ("slow down"); later ones are dropped silently until the window has room again.
Users never affect each other. Memory stays bounded: idle users are forgotten.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Literal

Verdict = Literal["ok", "warn", "drop"]


@dataclass(slots=True)
class _User:
    times: deque[float] = field(default_factory=deque)
    warned: bool = False
    last: float = 0.0


class FloodGate:
    def __init__(self, limit: int = 20, window: float = 60.0, max_users: int = 100_000) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("a flood limit needs limit >= 1 and window > 0")
        self.limit = limit
        self.window = window
        self.max_users = max_users
        self._users: dict[int, _User] = {}

    def check(self, user_id: int, now: float) -> Verdict:
        """Count one update of ``user_id`` at ``now`` (only accepted updates are counted)."""
        user = self._users.get(user_id)
        if user is None:
            self._forget_idle(now)
            user = self._users[user_id] = _User()
        user.last = now
        while user.times and user.times[0] <= now - self.window:
            user.times.popleft()
        if len(user.times) < self.limit:
            user.times.append(now)
            user.warned = False
            return "ok"
        if user.warned:
            return "drop"
        user.warned = True
        return "warn"

    def _forget_idle(self, now: float) -> None:
        if len(self._users) < self.max_users:
            return
        idle = [uid for uid, u in self._users.items() if u.last <= now - self.window]
        for uid in idle:
            del self._users[uid]
        while len(self._users) >= self.max_users:  # all active: drop the longest idle
            oldest = min(self._users, key=lambda uid: self._users[uid].last)
            del self._users[oldest]

    def __len__(self) -> int:
        return len(self._users)
