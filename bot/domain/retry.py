"""Retry timing: capped exponential backoff with jitter, and per-chat pacing windows."""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field


def backoff_seconds(attempt: int, *, base: float, cap: float, rng: random.Random) -> float:
    """Delay before retry number ``attempt`` (1-based): half fixed, half random ("equal jitter")."""
    ceiling = min(cap, base * 2 ** max(0, attempt - 1))
    jitter = float(rng.uniform(0, ceiling / 2))
    return float(ceiling / 2 + jitter)


@dataclass(slots=True)
class ChatPacer:
    """At most ``per_second`` messages a second per chat and ``per_minute`` a minute per
    group/channel. ``wait(chat, now)`` says how long to wait (0: go); ``record`` after sending."""

    per_second: int = 1
    per_minute: int = 20
    _sent: dict[str, deque[float]] = field(default_factory=dict)

    def wait(self, chat: str, now: float, *, group: bool) -> float:
        times = self._sent.get(chat)
        if not times:
            return 0.0
        while times and times[0] <= now - 60:
            times.popleft()
        waits = [0.0]
        recent = [t for t in times if t > now - 1]
        if len(recent) >= self.per_second:
            waits.append(recent[-self.per_second] + 1 - now)
        if group and len(times) >= self.per_minute:
            waits.append(times[-self.per_minute] + 60 - now)
        return max(waits)

    def record(self, chat: str, now: float) -> None:
        self._sent.setdefault(chat, deque()).append(now)
