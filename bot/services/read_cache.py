"""Answers that only change when the database changes, kept until it does.

``ReadCache.get(key, load)`` returns the answer kept for ``key`` while the database's change
token (``bot.store.data_version``) still equals the one read before that answer was loaded;
otherwise it loads, and keeps the answer under the token read *before* loading (a commit that
lands during the load moves the token, so the answer is never served past it). Every commit
that wrote what the answers are read from (the token's scope: the archive, the subscribers),
by any connection of any process, empties the cache: never a stale answer; other commits (the
ledger's deliveries during a broadcast) leave it. A token of None (no change signal) disables
keeping.

Kept answers are shared by every caller: they must be immutable (frozen dataclasses; callers
never mutate the lists inside). The cache is bounded (least recently used out first).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from bot.store.data_version import DataVersion

_V = TypeVar("_V")
_MISSING: Any = object()


@dataclass(slots=True)
class CacheStats:
    hits: int = 0
    misses: int = 0
    resets: int = 0  # the database changed: every kept answer dropped


class ReadCache(Generic[_V]):
    def __init__(self, version: DataVersion, max_entries: int = 512) -> None:
        self._version = version
        self._max = max_entries
        self._token: Hashable | None = None
        self._entries: OrderedDict[Hashable, _V] = OrderedDict()
        self.stats = CacheStats()

    async def get(self, key: Hashable, load: Callable[[], Awaitable[_V]]) -> _V:
        token = self._version.token()
        if token is not None and token == self._token:
            found = self._entries.get(key, _MISSING)
            if found is not _MISSING:
                self._entries.move_to_end(key)
                self.stats.hits += 1
                return found  # type: ignore[no-any-return]
        self.stats.misses += 1
        value = await load()
        self._keep(token, key, value)
        return value

    def _keep(self, token: Hashable | None, key: Hashable, value: _V) -> None:
        if token is None:
            return
        if token != self._token:
            # a newer load may have reset the cache meanwhile: keep only if still current
            if self._version.token() != token:
                return
            self._reset(token)
        self._entries[key] = value
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def _reset(self, token: Hashable) -> None:
        if self._entries:
            self.stats.resets += 1
        self._entries.clear()
        self._token = token

    def clear(self) -> None:
        self._entries.clear()
        self._token = None

    def __len__(self) -> int:
        return len(self._entries)
