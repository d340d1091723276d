"""A manually advanced clock for the fakes' injectable ``clock`` parameters."""

from __future__ import annotations


class FakeClock:
    """Callable returning a time that only moves when :meth:`advance` is called."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now
