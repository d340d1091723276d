"""Fault injection shared by the fake Telegram and X servers.

A :class:`FaultInjector` hands out at most one :class:`Fault` per request: first
from an explicit FIFO queue (deterministic, for tests), otherwise by rolling a
seeded :class:`random.Random` against per-kind probabilities (for soak runs).
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum

from aiohttp import web


class FaultKind(StrEnum):
    """What goes wrong with one request."""

    SERVER_ERROR = "server_error"  # 502 (Telegram) / 503 (X), nothing recorded
    RATE_LIMIT = "rate_limit"  # 429 with retry_after, nothing recorded
    SLOW = "slow"  # server sleeps `delay` seconds, then handles normally
    DROP = "drop"  # connection closed before processing: nothing recorded
    ACCEPT_THEN_DROP = "accept_then_drop"  # processed and recorded, then connection closed


@dataclass(frozen=True)
class Fault:
    """One injected fault; `method` restricts it to one API method/route (None = any)."""

    kind: FaultKind
    method: str | None = None
    retry_after: int = 5
    delay: float = 0.5
    status: int | None = None  # override the 5xx status code

    def matches(self, method: str) -> bool:
        return self.method is None or self.method.lower() == method.lower()


@dataclass
class FaultInjector:
    """Queue of scripted faults plus seeded random faults."""

    seed: int = 0
    queue: deque[Fault] = field(default_factory=deque)
    probabilities: dict[FaultKind, float] = field(default_factory=dict)
    #: methods eligible for random faults (None = every method)
    random_methods: frozenset[str] | None = None
    retry_after: int = 5
    slow_delay: float = 0.5
    injected: list[tuple[str, FaultKind]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def push(self, *faults: Fault) -> None:
        """Queue faults; each is consumed by the next request it matches."""
        self.queue.extend(faults)

    def next_fault(self, method: str) -> Fault | None:
        """Pop the fault for this request, if any, and remember it in `injected`."""
        fault = self._from_queue(method) or self._roll(method)
        if fault is not None:
            self.injected.append((method, fault.kind))
        return fault

    def _from_queue(self, method: str) -> Fault | None:
        for index, fault in enumerate(self.queue):
            if fault.matches(method):
                del self.queue[index]
                return fault
        return None

    def _roll(self, method: str) -> Fault | None:
        if not self.probabilities:
            return None
        if self.random_methods is not None and method not in self.random_methods:
            return None
        roll = self.rng.random()
        cumulative = 0.0
        for kind in FaultKind:
            cumulative += self.probabilities.get(kind, 0.0)
            if roll < cumulative:
                return Fault(kind, retry_after=self.retry_after, delay=self.slow_delay)
        return None


def drop_connection(request: web.Request) -> web.Response:
    """Abort the client's TCP connection; return the (never written) placeholder response.

    aiohttp silently discards a response whose transport was aborted, so the client
    sees "server disconnected without sending a response".
    """
    transport = request.transport
    if transport is not None:
        transport.abort()
    return web.Response(status=499)
